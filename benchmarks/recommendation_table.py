"""Aggregate recommendation runs (each an out_dir of multicl.recipes.recommendation) into a table.

    python benchmarks/recommendation_table.py --runs runs/rec/s0 runs/rec/s1 runs/rec/s2 --ablations no_logq=runs/rec/a_nologq ...

Prints mean ± std (ddof=1) over the runs given for each row, with the protocol.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from multicl.eval.recommendation import LOO_SPLIT, PROTOCOL

ANCHORS = {"popularity": (0.121, 0.140), "itemknn": (0.234, 0.277), "bpr": (0.2368, 0.2768), "lightgcn": ("", "")}


def cell(values: list[float]) -> str:
    v = np.array(values, dtype=float)
    return f"{v.mean():.4f}" if len(v) == 1 else f"{v.mean():.4f} ± {v.std(ddof=1):.4f}"


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--runs", nargs="+", required=True)
    p.add_argument("--ablations", nargs="*", default=[], help="name=out_dir")
    args = p.parse_args()
    runs = [json.loads((Path(r) / "metrics.json").read_text()) for r in args.runs]
    n = len(runs)
    splits = {json.loads((Path(r) / "config.json").read_text()).get("split", "ratio") for r in args.runs}
    protocol = PROTOCOL if splits == {"ratio"} else PROTOCOL.replace("per-user random 8:1:1 split (RecBole RS, order RO)", LOO_SPLIT)
    print(f"protocol: {protocol}; ML-100K; split seeds = run seeds; n = {n} runs (mean ± std)\n")
    print("| row | R@10 | NDCG@10 | MRR@10 | Hit@10 | anchor R@10 / NDCG@10 |")
    print("|---|---|---|---|---|---|")
    def row(name, prefix, sources, anchor=""):
        have = [m for m in sources if f"{prefix}_recall@10" in m]
        if not have:
            return
        print(f"| {name} (n={len(have)}) | " + " | ".join(cell([m[f"{prefix}_{k}@10"] for m in have]) for k in ("recall", "ndcg", "mrr", "hit")) + f" | {anchor} |")
    row("two towers (id + MiniLM text), test", "test", runs)
    for b in ("popularity", "itemknn", "bpr", "lightgcn"):
        a = ANCHORS[b]
        row(f"baseline {b}, test", f"baseline_{b}", runs, f"{a[0]} / {a[1]}" if a[0] and splits == {"ratio"} else "")
    for spec in args.ablations:
        name, folder = spec.split("=", 1)
        m = json.loads((Path(folder) / "metrics.json").read_text())
        row(f"ablation {name}, test", "test", [m])
        row(f"ablation {name}, valid", "valid", [m])
    row("two towers, valid", "valid", runs)
    cold = [m for m in runs if "cold_start_recall@10" in m]
    if cold:
        print(f"\ncold start (10 % of items never trained on, ranked among themselves through their text): "
              f"two towers R@10 {cell([m['cold_start_recall@10'] for m in cold])}, NDCG@10 {cell([m['cold_start_ndcg@10'] for m in cold])}; "
              f"untrained MiniLM text kNN R@10 {cell([m['cold_start_text_knn_recall@10'] for m in cold])}; "
              f"random R@10 {cell([m['cold_start_random_recall@10'] for m in cold])}")
    print("\nwall seconds per run: " + ", ".join(f"{m['wall_seconds']:.0f}" for m in runs)
          + "; two-tower training seconds: " + ", ".join(f"{m['train_seconds']:.0f}" for m in runs))


if __name__ == "__main__":
    main()
