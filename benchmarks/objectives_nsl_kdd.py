"""Every objective, same encoder, data and budget, on NSL-KDD records (self-supervised).

MLP encoder (121 -> 256 -> 256 -> 64) on log-scaled, standardised numerics + one-hot
symbolic fields, SCARF views (30% of features redrawn from their marginals), batch 256,
AdamW 1e-3 with cosine decay, the same seed. Scored on KDDTest+: kNN (k=10, cosine) and
linear-probe accuracy / macro-F1 over the 5 categories, kNN attack-vs-normal accuracy, and
the alignment / uniformity of test embeddings under the training views. Baselines: raw
features, and the same encoder randomly initialised. SupCon uses the training labels
(supervised row); every other row sees no label.

    python benchmarks/objectives_nsl_kdd.py --data-dir ../shared/data --steps 600
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _nsl_kdd_setup import load, probe, train_method  # noqa: E402

from multicl.eval.report import format_table  # noqa: E402
from multicl.modalities.vector import VectorAdapter  # noqa: E402

TABLE_METHODS = ["info_nce", "multi_positive_info_nce", "nt_xent", "dcl", "debiased", "moco", "contrastive_pair",
                 "triplet", "n_pair", "logistic_pair", "byol", "simsiam", "barlow_twins", "vicreg", "supcon"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default="../shared/data")
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--methods", nargs="+", default=TABLE_METHODS)
    parser.add_argument("--out", default="benchmarks/results/objectives_nsl_kdd")
    args = parser.parse_args()
    torch.set_num_threads(2)
    data = load(Path(args.data_dir))
    header = ["method", "kNN acc", "kNN macro-F1", "linear acc", "linear macro-F1", "kNN attack acc", "alignment", "uniformity", "train s"]
    rows, results = [], {}
    start = time.perf_counter()
    raw = probe(None, data, None)
    rows.append(["raw features (no training)", raw["knn_accuracy"], raw["knn_macro_f1"], raw["linear_accuracy"], raw["linear_macro_f1"], raw["knn_binary_accuracy"], "-", "-", "-"])
    torch.manual_seed(args.seed)
    adapter = VectorAdapter(data.train_x, corruption=0.3)
    random_init = probe(adapter.build_encoder(), data, adapter)
    rows.append(["random-init encoder", *[random_init[k] for k in ("knn_accuracy", "knn_macro_f1", "linear_accuracy", "linear_macro_f1", "knn_binary_accuracy", "alignment", "uniformity")], "-"])
    results["raw"], results["random_init"] = raw, random_init
    for method in args.methods:
        with tempfile.TemporaryDirectory() as tmp:
            encoder, summary, adapter = train_method(method, data, Path(tmp), args.steps, args.batch_size, args.seed)
        scores = probe(encoder, data, adapter)
        results[method] = {**scores, "train_seconds": summary["train_seconds"]}
        label = f"{method} (uses labels)" if method == "supcon" else method
        rows.append([label, *[scores[k] for k in ("knn_accuracy", "knn_macro_f1", "linear_accuracy", "linear_macro_f1", "knn_binary_accuracy", "alignment", "uniformity")], summary["train_seconds"]])
        print(format_table(rows[-1:], header), flush=True)
    table = format_table(rows, header)
    print("\n" + table)
    print(f"\ntotal {time.perf_counter() - start:.0f}s")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps({"args": vars(args), "results": results}, indent=2))
    (out / "table.md").write_text(table + "\n")


if __name__ == "__main__":
    main()
