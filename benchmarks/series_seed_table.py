"""sequence_contrastive runs of one set (one per seed) -> its table: mean ± std over seeds (ddof=1) of the four probes
(cosine 1-NN, distance-weighted k-NN, logistic regression, RBF SVM) for the raw series, the random-init encoder, the
as-is TS2Vec alone (runs with --resampled-join) and the saved space, plus raw DTW 1-NN where it ran.

    OMP_NUM_THREADS=1 .venv/bin/python -m multicl.recipes.sequence_contrastive --train-file X_TRAIN.ts --seed S --out-dir <fresh>
    .venv/bin/python benchmarks/series_seed_table.py --runs <the out dirs> [--out table.md --json table.json]
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from multicl.eval.report import format_table

PROBES = ("1nn", "knn", "linear", "svm")


def rows_of(split: str, method: str) -> list[tuple[str, str]]:
    """(row name, metric prefix) for the rows a run of ``method`` reports on ``split``."""
    return [("raw series", f"{split}_raw"), ("random init (saved space)", f"{split}_{method}_random_init"),
            ("as is, alone", f"{split}_{method}_as_is"), ("saved space (default)", f"{split}_{method}")]


def summarise(runs: list[dict]) -> dict[str, dict[str, list[float]]]:
    """{row name: {probe: per-seed values}} for the rows every run has."""
    split, method = runs[0].get("split", "test"), runs[0].get("method", "ts2vec")
    out: dict[str, dict[str, list[float]]] = {}
    for name, prefix in rows_of(split, method):
        keys = {p: f"{prefix}_{p}_accuracy" for p in PROBES}
        if all(k in run for run in runs for k in keys.values()):
            out[name] = {p: [float(run[k]) for run in runs] for p, k in keys.items()}
    dtw = f"{split}_raw_dtw_1nn_accuracy"
    if all(dtw in run for run in runs):
        out["raw series, DTW 1-NN"] = {"1nn": [float(run[dtw]) for run in runs]}
    return out


def cell(values: list[float] | None) -> str:
    if not values:
        return "-"
    v = np.asarray(values)
    return f"{v.mean():.1f} ± {v.std(ddof=1):.1f}" if len(v) > 1 else f"{v[0]:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=Path, nargs="+", required=True, help="out dirs (or folders holding metrics.json and config.json)")
    parser.add_argument("--out", type=Path, default=None, help="write the table here too (markdown)")
    parser.add_argument("--json", type=Path, default=None, help="write the per-seed values here")
    args = parser.parse_args()
    runs = [json.loads((folder / "metrics.json").read_text()) for folder in args.runs]
    configs = [json.loads((folder / "config.json").read_text()) for folder in args.runs]
    seeds = [c["seed"] for c in configs]
    summary = summarise(runs)
    table = format_table([[name, *(cell(values.get(p)) for p in PROBES)] for name, values in summary.items()],
                         ["representation", "1-NN", f"{configs[0].get('knn_k', 5)}-NN", "linear", "SVM"])
    text = (f"{Path(configs[0]['train_file']).name}, split {runs[0].get('split', 'test')}\n{table}\n"
            f"mean ± std over seeds {seeds} (ddof=1)\n")
    if args.out:
        args.out.write_text(text)
    if args.json:
        args.json.write_text(json.dumps({"seeds": seeds, "train_file": configs[0]["train_file"], "rows": summary}, indent=1))
    print(text)


if __name__ == "__main__":
    main()
