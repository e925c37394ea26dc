"""KDD Cup 99 10% file (494,021 records): preprocessing, encoding and indexing throughput.

Phases, one after the other in this process, each with its wall time, records/s and the rise
of the process's resident-set peak (VmHWM reset before each phase):
read (our checked reader), preprocessing fit + transform (ours: quantile scaling + vocabularies
with OOV/missing codes; peer: scikit-learn ColumnTransformer with QuantileTransformer +
OneHotEncoder, what a user would write instead), encoding with the tabular MLP encoder (random
init: throughput does not depend on the weights), hnswlib index build over the embeddings.

    .venv/bin/python benchmarks/tabular_throughput.py --data-dir ../shared/data
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import fixed_mmap_threshold, measure  # noqa: E402

from multicl.data.nsl_kdd import read_connection_records
from multicl.data.table_preprocessing import TablePreprocessor
from multicl.eval.report import format_table
from multicl.modalities.tabular import TabularAdapter, encode_table
from multicl.negatives.ann_index import HnswIndex


def sklearn_preprocess(frame, numeric, categorical):
    from sklearn.compose import ColumnTransformer
    from sklearn.preprocessing import OneHotEncoder, QuantileTransformer

    transformer = ColumnTransformer([
        ("numeric", QuantileTransformer(n_quantiles=1000, output_distribution="normal", subsample=10**9), numeric),
        ("categorical", OneHotEncoder(handle_unknown="ignore"), categorical),
    ])
    return transformer.fit_transform(frame)


def main() -> None:
    fixed_mmap_threshold()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/tabular_throughput"))
    args = parser.parse_args()
    path = args.data_dir / "security" / "kddcup99" / "kddcup.data_10_percent.gz"
    rows = []

    def row(phase, n, seconds, mib):
        rows.append({"phase": phase, "records": n, "seconds": seconds, "records_per_second": n / seconds, "peak_mib": mib})
        print(rows[-1], flush=True)

    records, t, mem = measure(read_connection_records, path)
    n = len(records.attack)
    row("read + check (gzip csv)", n, t, mem)
    frame, t, mem = measure(records.to_frame)
    frame = frame.drop(columns=["attack"])
    row("to DataFrame", n, t, mem)
    pre, t, mem = measure(TablePreprocessor().fit, frame)
    row("preprocessing fit (multicl, quantile)", n, t, mem)
    table, t, mem = measure(pre.transform, frame)
    row("preprocessing transform (multicl)", n, t, mem)
    _, t, mem = measure(sklearn_preprocess, frame, pre.numeric, pre.categorical)
    row("preprocessing fit + transform (scikit-learn Quantile + OneHot)", n, t, mem)
    torch.manual_seed(0)
    encoder = TabularAdapter(table, pre).build_encoder()
    z, t, mem = measure(encode_table, encoder, table, 8192)
    row("encode (MLP 256-256-64, fp32, batch 8192)", n, t, mem)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        _, t, mem = measure(encode_table, encoder, table, 8192)
    row("encode (bf16 autocast)", n, t, mem)

    def build():
        index = HnswIndex(z.shape[1], space="cosine", M=16, ef_construction=100, initial_capacity=len(z))
        index.add(z, np.arange(len(z)))
        return index

    index, t, mem = measure(build)
    row("hnswlib index build (M=16, efC=100)", n, t, mem)
    _, t, mem = measure(index.search, z[:50_000], 10)
    row("hnswlib top-10 queries (ef=64)", 50_000, t, mem)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps({"threads": torch.get_num_threads(), "rows": rows}, indent=2))
    table_md = format_table([[r["phase"], r["records"], r["seconds"], f"{r['records_per_second']:,.0f}", r["peak_mib"]] for r in rows],
                            ["phase", "records", "seconds", "records/s", "peak MiB"])
    (args.out / "table.md").write_text(table_md + "\n")
    print(table_md)


if __name__ == "__main__":
    main()
