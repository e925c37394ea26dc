"""Can a different probe lift security_threat's few-label rows above the raw features? (NSL-KDD dev only; issue 18)

With 1% of the labels (189 rows of the dev protocol's fit part) the headline probe, logistic regression (C = 1) on
[SSL embedding, raw features], is below logistic regression on the raw features alone. Three standard remedies, scored
from one saved pre-training run on the same dev split and label draws as the recipe (``few_label_rows``, seeds
``seed + draw``), category macro-F1 on dev and hard dev:

* ``cv``: C chosen by stratified 3-fold cross-validation (macro-F1) on the labelled rows, over {0.01, 0.1, 1, 10, 100};
* ``w<x>``: the SSL block shrunk by ``x`` after standardisation (a stronger L2 prior on it than on the raw block);
* ``spread``: labels spread over a 10-NN graph of the fit rows (``sklearn.semi_supervised.LabelSpreading``, alpha 0.2)
  in the SSL embedding or in the raw features, then the probe is fitted on every fit row with the spread labels.

    OMP_NUM_THREADS=1 .venv/bin/python -m multicl.recipes.security_threat --eval-split dev --finetune-steps 0 --label-fractions 1.0 --label-draws 1 --seed 0 --out-dir runs/st_dev_s0
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/security_few_label_probes.py --run runs/st_dev_s0 --seed 0
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedKFold
from sklearn.preprocessing import StandardScaler
from sklearn.semi_supervised import LabelSpreading

from multicl.eval.probe import unit_rows
from multicl.eval.report import format_table
from multicl.recipes import security_threat as st

from _security_dev import load_security_dev

C_GRID = (0.01, 0.1, 1.0, 10.0, 100.0)


def logistic(train_x, train_y, test_x, seed: int, c: float = 1.0, shrink_first: int = 0, shrink: float = 1.0) -> np.ndarray:
    """Standardised logistic regression (the recipe's probe at c=1); the first ``shrink_first`` columns scaled by ``shrink``."""
    scaler = StandardScaler().fit(train_x)
    a, b = scaler.transform(train_x), scaler.transform(test_x)
    a[:, :shrink_first] *= shrink
    b[:, :shrink_first] *= shrink
    return LogisticRegression(C=c, max_iter=2000, random_state=seed).fit(a, train_y).predict(b)


def cross_validated_c(x, y, seed: int) -> float:
    scores = {}
    for c in C_GRID:
        folds = StratifiedKFold(3, shuffle=True, random_state=seed).split(x, y)
        scores[c] = np.mean([f1_score(y[b], logistic(x[a], y[a], x[b], seed, c), average="macro") for a, b in folds])
    return max(scores, key=scores.get)


def spread_labels(graph_x, y, rows) -> np.ndarray:
    known = np.full(len(y), -1)
    known[rows] = y[rows]
    return LabelSpreading(kernel="knn", n_neighbors=10, alpha=0.2, max_iter=100).fit(unit_rows(graph_x), known).transduction_


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=Path, required=True, help="a security_threat --eval-split dev out dir (its model/ is embedded)")
    parser.add_argument("--seed", type=int, required=True, help="the run's --seed (label draws use seed + draw, as the recipe)")
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.01, 0.05, 0.1])
    parser.add_argument("--draws", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/security_few_label_probes"))
    args = parser.parse_args()
    data = load_security_dev(args.run)
    y_fit, y_dev, hard = data.y_fit, data.y_dev, data.hard
    z_fit, z_dev, raw_fit, raw_dev = data.z_fit, data.z_dev, data.raw_fit, data.raw_dev
    cat_fit, cat_dev = st.concat_features(z_fit, raw_fit), st.concat_features(z_dev, raw_dev)
    width = z_fit.shape[1]

    def scores(pred):
        return 100 * f1_score(y_dev, pred, average="macro"), 100 * f1_score(y_dev[hard], pred[hard], average="macro")

    results: dict[str, dict[str, list]] = {}
    for fraction in args.fractions:
        per: dict[str, list] = {}
        for draw in range(args.draws):
            seed = args.seed + draw
            rows = st.few_label_rows(y_fit, fraction, seed)
            preds = {"raw": logistic(raw_fit[rows], y_fit[rows], raw_dev, seed),
                     "[SSL, raw] (the recipe's)": logistic(cat_fit[rows], y_fit[rows], cat_dev, seed),
                     "raw, cv C": logistic(raw_fit[rows], y_fit[rows], raw_dev, seed, cross_validated_c(raw_fit[rows], y_fit[rows], seed)),
                     "[SSL, raw], cv C": logistic(cat_fit[rows], y_fit[rows], cat_dev, seed, cross_validated_c(cat_fit[rows], y_fit[rows], seed))}
            for shrink in (0.5, 0.25):
                preds[f"[SSL x {shrink}, raw]"] = logistic(cat_fit[rows], y_fit[rows], cat_dev, seed, shrink_first=width, shrink=shrink)
            spread_raw, spread_ssl = spread_labels(raw_fit, y_fit, rows), spread_labels(z_fit, y_fit, rows)
            preds["raw, labels spread on raw"] = logistic(raw_fit, spread_raw, raw_dev, seed)
            preds["[SSL, raw], labels spread on raw"] = logistic(cat_fit, spread_raw, cat_dev, seed)
            preds["[SSL, raw], labels spread on SSL"] = logistic(cat_fit, spread_ssl, cat_dev, seed)
            for name, pred in preds.items():
                per.setdefault(name, []).append(scores(pred))
        results[f"{fraction:g}"] = per
    lines = []
    for fraction, per in results.items():
        for name, values in per.items():
            v = np.array(values)
            lines.append([f"{100 * float(fraction):g}%", name, f"{v[:, 0].mean():.2f} ± {v[:, 0].std(ddof=1):.2f}",
                          f"{v[:, 1].mean():.2f} ± {v[:, 1].std(ddof=1):.2f}"])
    text = format_table(lines, ["labels", "probe", "dev macro-F1 (± over draws)", "hard dev macro-F1"])
    text += f"\nrun {args.run} (seed {args.seed}); {args.draws} label draws per fraction (seeds {args.seed}..{args.seed + args.draws - 1})"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"dev_seed{args.seed}.md").write_text(text + "\n")
    (args.out / f"dev_seed{args.seed}.json").write_text(json.dumps(results, indent=1))
    print(text)


if __name__ == "__main__":
    main()
