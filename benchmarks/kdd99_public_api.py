"""KDD Cup 99 10% file (494,021 records) through the public API only: train, load, encode, index, search.

1. ``python -m multicl.recipes.security_threat`` trains briefly into a fresh ``--run-dir`` (SCARF
   InfoNCE on NSL-KDD, ``--max-steps``; probes cut to the minimum) and saves ``run-dir/model``;
2. ``EmbeddingModel.load(run_dir / "model")``; the raw gzip file is read with
   ``multicl.data.nsl_kdd.read_connection_records`` (timed apart: it is not the model);
3. ``model.encode(frame)`` of all 494,021 records (the fitted preprocessing + the MLP), fp32 and bf16;
4. ``model.index(embeddings)`` (``auto``: hnswlib past 20,000 distinct vectors; the index stores
   identical vectors once), then ``index.search(embeddings, k=10)`` of every record;
5. recall@10 of that search against ``model.index(embeddings, backend="exact")`` on a seeded
   sample of 2,000 queries, tie-aware as in benchmarks/mining.py (a hit is any returned record at
   least as similar as the exact 10th; KDD99 repeats records) and by ids (ties between copies of
   one vector come out in id order from both backends, so the ids can match exactly).

One table puts the figures of the private loops beside ours (benchmarks/tabular_throughput.py in
docs/security.md; benchmarks/mining.py in docs/hard_negatives.md; both on this 2-core machine
with 2 threads). Peak MiB: rise of the process's resident-set peak during the phase.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/kdd99_public_api.py --threads 2
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import fixed_mmap_threshold, measure  # noqa: E402

from multicl.api import EmbeddingModel  # noqa: E402
from multicl.data.nsl_kdd import read_connection_records  # noqa: E402
from multicl.eval.report import format_table  # noqa: E402

K = 10
# private-loop figures, copied from the docs (2 CPU cores, 2 threads)
PRIVATE = {
    "read": ("13.63 s, 36,250/s", "docs/security.md (tabular_throughput.py): read + check (gzip csv)"),
    "encode": ("9.40 s, 52,560/s (transform 7.16 s + MLP 2.24 s: 220,146/s)",
               "docs/security.md: preprocessing transform + encode (MLP 256-256-64, fp32, batch 8192)"),
    "encode_bf16": ("8.56 s, 57,710/s (transform 7.16 s + MLP 1.40 s: 351,658/s)", "docs/security.md: transform + encode (bf16 autocast)"),
    "build": ("26.51 s / 24.9 s (every copy)", "docs/security.md / docs/hard_negatives.md: hnswlib build M=16 efC=100"),
    "search": ("6.92 s, 71,430 q/s (every copy, ef=64); 50k queries: 0.75 s, 66,698 q/s",
               "docs/hard_negatives.md (mining.py): hnswlib top-10 of all 494k; docs/security.md: 50k queries"),
    "total": ("31.8 s (every copy) / 8.75 s (distinct rows)", "docs/hard_negatives.md: build + search of all 494k"),
    "recall": ("0.964 (every copy) / 0.989 (distinct rows)", "docs/hard_negatives.md: tie-aware recall@10 over all 494k queries"),
}


def train(run_dir: Path, max_steps: int, threads: int) -> float:
    cmd = [sys.executable, "-m", "multicl.recipes.security_threat", "--out-dir", str(run_dir), "--overwrite", "--device", "cpu",
           "--max-steps", str(max_steps), "--supervised-steps", "20", "--finetune-steps", "0", "--label-draws", "1",
           "--label-fractions", "0.01", "--method", "info_nce"]  # the method of the published run (the recipe's default then)
    print("+", " ".join(cmd), flush=True)
    start = time.perf_counter()
    log = run_dir.parent / f"{run_dir.name}.train.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as out:  # the recipe's progress bars and report
        subprocess.run(cmd, check=True, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "OMP_NUM_THREADS": str(threads)})
    return time.perf_counter() - start


def tie_aware_recall(z: np.ndarray, queries: np.ndarray, found: np.ndarray, exact: np.ndarray) -> float:
    """Share of returned records at least as similar as the exact 10th (benchmarks/mining.py)."""
    kth = np.einsum("nd,nd->n", z[queries], z[exact[:, -1]])
    sims = np.einsum("nd,nkd->nk", z[queries], z[found.clip(min=0)])
    return float(((sims >= kth[:, None] - 1e-5) & (found >= 0)).mean())


def private_distinct_loop(z: np.ndarray, threads: int) -> np.ndarray:
    """What the miner does privately (benchmarks/mining.py): unique rows, an hnswlib graph over them
    (M=16, efC=100, ef=64), top-k of the unique rows, expanded to every copy; (N, k) row ids."""
    from multicl.negatives.ann_index import HnswIndex
    from multicl.negatives.dedup import expand_groups, unique_vectors

    unique, inverse = unique_vectors(torch.from_numpy(z))
    graph = HnswIndex(z.shape[1], space="cosine", M=16, ef_construction=100, ef=64, initial_capacity=len(unique), num_threads=threads)
    graph.add(unique.numpy(), np.arange(len(unique)))
    ids, sims = graph.search(unique.numpy(), K)
    rows, _ = expand_groups(torch.from_numpy(ids.astype(np.int64)), torch.from_numpy(sims), inverse, K)
    return rows[inverse].numpy()


def main() -> None:
    fixed_mmap_threshold()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    parser.add_argument("--run-dir", type=Path, default=Path("runs/kdd99_public_api"), help="the recipe's out dir (fresh: --overwrite)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/kdd99_public_api"))
    parser.add_argument("--max-steps", type=int, default=300, help="pre-training steps of the security recipe")
    parser.add_argument("--reuse-model", action="store_true", help="skip training: load run-dir/model as it is")
    parser.add_argument("--threads", type=int, default=1, help="torch and hnswlib threads")
    parser.add_argument("--batch-size", type=int, default=8192)
    parser.add_argument("--sample", type=int, default=2000, help="queries checked against exact search")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    result: dict = {"threads": args.threads, "max_steps": args.max_steps}
    rows: list[list] = []

    result["train_seconds"] = None if args.reuse_model else train(args.run_dir, args.max_steps, args.threads)
    model = EmbeddingModel.load(args.run_dir / "model", device="cpu")
    print(model, flush=True)

    path = args.data_dir / "security" / "kddcup99" / "kddcup.data_10_percent.gz"
    records, t, mem = measure(read_connection_records, path)
    frame = records.to_frame().drop(columns=["attack"])
    n = len(frame)
    del records
    rows.append(["read + check (gzip csv; not the model)", n, f"{t:.2f} s, {n / t:,.0f}/s", f"{mem:.0f}", *PRIVATE["read"]])
    print(rows[-1], flush=True)

    z, t, mem = measure(model.encode, frame, batch_size=args.batch_size, show_progress_bar=False)
    result["encode_seconds"] = t
    rows.append([f"model.encode(frame) fp32, batch {args.batch_size} (preprocessing + MLP)", n, f"{t:.2f} s, {n / t:,.0f}/s",
                 f"{mem:.0f}", *PRIVATE["encode"]])
    print(rows[-1], flush=True)
    z16, t, mem = measure(model.encode, frame, batch_size=args.batch_size, show_progress_bar=False, precision="bf16")
    result["encode_bf16_seconds"] = t
    rows.append([f"model.encode(frame, precision='bf16')", n, f"{t:.2f} s, {n / t:,.0f}/s", f"{mem:.0f}", *PRIVATE["encode_bf16"]])
    print(rows[-1], flush=True)
    del z16
    prepared, t_prep, _ = measure(model.reader.prepare, frame)  # the preprocessing share of encode, for the breakdown
    result["prepare_seconds"] = t_prep
    del prepared, frame

    index, t_build, mem = measure(model.index, z, num_threads=args.threads)
    result.update(build_seconds=t_build, backend=index.kind, distinct=index.distinct, index=repr(index))
    rows.append([f"model.index(embeddings): {index.kind}, M=16 efC=100, {index.distinct:,} distinct vectors", n,
                 f"{t_build:.2f} s", f"{mem:.0f}", *PRIVATE["build"]])
    print(rows[-1], flush=True)
    (found, scores), t_search, mem = measure(index.search, z, k=K)
    result.update(search_seconds=t_search, queries_per_second=n / t_search)
    rows.append([f"index.search(embeddings, k={K}) of every record (ef=64)", n, f"{t_search:.2f} s, {n / t_search:,.0f} q/s",
                 f"{mem:.0f}", *PRIVATE["search"]])
    print(rows[-1], flush=True)
    rows.append(["build + search", n, f"{t_build + t_search:.2f} s", "", *PRIVATE["total"]])
    private, t_private, _ = measure(private_distinct_loop, z, args.threads)
    result.update(private_same_run_seconds=t_private, public_over_private=(t_build + t_search) / t_private)
    rows.append(["the miner's private distinct-row loop, same embeddings, same run (build + search + expand)", n,
                 f"{t_private:.2f} s (public / private: {(t_build + t_search) / t_private:.2f}x)", "", "", "measured here"])
    print(rows[-1], flush=True)
    del private

    sample = np.sort(np.random.default_rng(0).choice(n, args.sample, replace=False))
    exact, t_exact_build, _ = measure(model.index, z, backend="exact")
    (exact_ids, exact_scores), t_exact, _ = measure(exact.search, z[sample], k=K)
    recall = tie_aware_recall(z, sample, found[sample], exact_ids)
    same_ids = float(np.mean([len(set(a) & set(b)) / K for a, b in zip(found[sample].tolist(), exact_ids.tolist())]))
    result.update(exact_build_seconds=t_exact_build, exact_sample_search_seconds=t_exact, recall_at_10_tie_aware=recall,
                  recall_at_10_ids=same_ids, sample=args.sample)
    rows.append([f"recall@10 vs exact ({args.sample:,} seeded queries; tie-aware / same ids)", args.sample,
                 f"{recall:.4f} / {same_ids:.4f}", "", *PRIVATE["recall"]])
    rows.append([f"exact backend: build / {args.sample:,} queries", n, f"{t_exact_build:.2f} s / {t_exact:.2f} s", "",
                 "", "(the reference; not in the docs)"])
    print(rows[-2:], flush=True)

    headers = ["phase (public API)", "records", "ours", "peak MiB", "private loop (docs)", "source"]
    table = format_table(rows, headers)
    note = (f"threads: {args.threads} (torch + hnswlib); security recipe {args.max_steps} steps (train + save "
            f"{result['train_seconds'] or 0:.0f} s); preprocessing share of encode: {t_prep:.2f} s")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"results_threads{args.threads}.json").write_text(json.dumps({**result, "rows": rows, "headers": headers}, indent=2))
    (args.out / f"table_threads{args.threads}.md").write_text(table + "\n\n" + note + "\n")
    print(table)
    print(note)


if __name__ == "__main__":
    main()
