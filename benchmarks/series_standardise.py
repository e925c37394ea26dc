"""Save TS2Vec's series embedding standardised per coordinate? (issue 18; rule first)

The ``--select-space`` study found z-scoring TS2Vec's instance embedding helps its cosine neighbours on dev, while the
candidate that did it also scaled rows to unit length and so lost the (standardising) linear probe. Here one default
TS2Vec run per set and split is re-embedded as saved and standardised (``(z - mu) / sigma`` with the fit series'
statistics, no row normalisation) and both are scored on the held-out series by the recipe's four probes. The rule:
``benchmarks/results/series_standardise/RULE.md``.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/series_standardise.py --sktime-root <sets> --split-seeds 0 1 2
    (--stage test: train on *_TRAIN.ts, score *_TEST.ts; --sets to choose sets; finished cells in the JSON are kept)
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from multicl.recipes._sequence_eval import embedding_scores

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _series_sets import PROBES, default_run, space_study_main  # noqa: E402

SPACES = {"raw": "raw series (euclidean; LR / SVM on it)", "saved": "TS2Vec's own output (the old default)",
          "standardised": "TS2Vec standardised per coordinate (the default)"}


def standardise(fit: np.ndarray, held: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both sets of rows z-scored per coordinate with the fit rows' mean / population std (floored at 1e-6)."""
    mean, std = fit.mean(0), np.clip(fit.std(0), 1e-6, None)
    return (fit - mean) / std, (held - mean) / std


def run(train_file: Path, seed: int, stage: str = "dev", extra_args: tuple[str, ...] = ()) -> dict:
    """One default TS2Vec run (``extra_args``: recipe flags of a variant) -> the four probe accuracies of the raw
    series (as the recipe scored them), of TS2Vec's own output and of the standardised one, on the held-out series."""
    with default_run(train_file, seed, stage, extra_args) as r:
        saved = [r.model.encode(s, normalize=False, show_progress_bar=False).astype(np.float64) for s in (r.fit_series, r.eval_series)]
    out: dict = {"raw": {p: r.metrics[f"{stage}_raw_{p}_accuracy"] for p in PROBES}}
    for name, (fit, held) in {"saved": saved, "standardised": standardise(*saved)}.items():
        scores = embedding_scores(fit, r.fit_labels, held, r.eval_labels, 5, "p")
        out[name] = {p: scores[f"p_{p}_accuracy"] for p in PROBES}
    return out


if __name__ == "__main__":
    space_study_main(__doc__, Path("benchmarks/results/series_standardise"), run, SPACES, PROBES, [("standardised", "saved")])
