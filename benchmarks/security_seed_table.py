"""security_threat runs (one per pre-training seed) -> the few-label table: mean ± std over seeds (ddof=1) of each run's
5-draw means, category macro-F1 on KDDTest+ and KDDTest-21, kNN and linear probes.

    OMP_NUM_THREADS=1 .venv/bin/python -m multicl.recipes.security_threat --device cpu --seed S --out-dir <fresh>   # S = 0 1 2
    .venv/bin/python benchmarks/security_seed_table.py --runs <the three out dirs, or folders holding their metrics.json>
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from multicl.eval.report import format_table

FEATURES = {"raw": "raw features", "pretrained": "SSL embedding", "concat": "[SSL, raw] (headline)", "supervised_mlp": "supervised MLP"}


def cell(runs: list[dict], key: str) -> str:
    if key not in runs[0]:
        return "-"
    values = np.array([run[key] for run in runs])
    return f"{values.mean():.2f} ± {values.std(ddof=1):.2f}" if len(values) > 1 else f"{values[0]:.2f}"


def table(runs: list[dict]) -> str:
    tags = sorted({k.split("_")[1] for k in runs[0] if k.startswith("labels_")}, key=lambda t: float(t.replace("pct", "").replace("_", ".")))
    rows = []
    for tag in tags:
        for feature, name in FEATURES.items():
            # the supervised MLP is its own classifier (no kNN column): test_<tag>_supervised_mlp_category_macro_f1
            probes = ("knn", "linear") if feature != "supervised_mlp" else (None, "")
            cells = [cell(runs, f"{prefix}_{tag}_{feature}{'_' + probe if probe else ''}_category_macro_f1") if probe is not None else "-"
                     for prefix in ("test", "test_hard") for probe in probes]
            rows.append([tag, name, *cells])
    return format_table(rows, ["labels", "features", "KDDTest+ kNN", "KDDTest+ linear", "KDDTest-21 kNN", "KDDTest-21 linear"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=Path, nargs="+", required=True)
    parser.add_argument("--out", type=Path, default=None, help="write the table here too (markdown)")
    args = parser.parse_args()
    runs = [json.loads((folder / "metrics.json").read_text()) for folder in args.runs]
    seeds = [json.loads((folder / "config.json").read_text())["seed"] for folder in args.runs]
    text = table(runs) + f"\nmean ± std over pre-training seeds {seeds} (ddof=1) of each run's label-draw means\n"
    if args.out:
        args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
