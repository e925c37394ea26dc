"""Join the raw series to TS2Vec's saved space at one global scale? (issue 18; rule first)

Every joined space measured before scaled each series' raw block to unit length, which removes the amplitude a raw
euclidean 1-NN reads. Here one default TS2Vec run per set and split is re-embedded as the default saves it
(standardised per coordinate) and as ``[s / sqrt(D), w * raw / c]`` (``c``: the root mean squared norm of the fit
series' raw vectors, so both blocks have mean squared norm 1), and every space is scored on the held-out series by
the recipe's four probes. The rule: ``benchmarks/results/series_raw_block/RULE.md``.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/series_raw_block.py --sktime-root <sets> --split-seeds 0 1 2
    (--stage test: train on *_TRAIN.ts, score *_TEST.ts; --sets to choose sets; finished cells in the JSON are kept)
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from multicl.recipes._sequence_eval import embedding_scores
from multicl.recipes._series_space import raw_rows

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _series_sets import PROBES, default_run, space_study_main  # noqa: E402
from series_standardise import standardise  # noqa: E402

WEIGHTS = (0.5, 1.0, 2.0)
SPACES = {"raw": "raw series (euclidean; LR / SVM on it)", "standardised": "TS2Vec standardised (the default)",
          **{f"g{w:g}": f"[s / sqrt(D), {w:g} x raw / c]" for w in WEIGHTS}}


def joined(s: tuple[np.ndarray, np.ndarray], raw: tuple[np.ndarray, np.ndarray], weight: float) -> tuple[np.ndarray, np.ndarray]:
    """(fit, held) rows ``[s / sqrt(D), weight * raw / c]``, ``c`` from the fit rows' raw vectors."""
    c = float(np.sqrt(np.mean(np.sum(raw[0] ** 2, axis=1))))
    d = s[0].shape[1]
    return tuple(np.concatenate([z / np.sqrt(d), weight * r / max(c, 1e-12)], 1) for z, r in zip(s, raw))


def run(train_file: Path, seed: int, stage: str = "dev") -> dict:
    """One default TS2Vec run -> the four probe accuracies of the raw series (as the recipe scored them), of the
    standardised default space and of each globally scaled join, on the held-out series."""
    with default_run(train_file, seed, stage) as r:
        saved = [r.model.encode(s, normalize=False, show_progress_bar=False).astype(np.float64) for s in (r.fit_series, r.eval_series)]
    s = standardise(*saved)
    center, scale = r.model.reader.center, r.model.reader.scale  # the adapter's channel statistics, as saved
    length = max(len(x) for x in r.fit_series)
    raw = tuple(raw_rows(series, center, scale, length) for series in (r.fit_series, r.eval_series))
    out: dict = {"raw": {p: r.metrics[f"{stage}_raw_{p}_accuracy"] for p in PROBES}}
    for name, (fit, held) in {"standardised": s, **{f"g{w:g}": joined(s, raw, w) for w in WEIGHTS}}.items():
        scores = embedding_scores(fit, r.fit_labels, held, r.eval_labels, 5, "p")
        out[name] = {p: scores[f"p_{p}_accuracy"] for p in PROBES}
    return out


if __name__ == "__main__":
    space_study_main(__doc__, Path("benchmarks/results/series_raw_block"), run, SPACES, PROBES, [(f"g{w:g}", "standardised") for w in WEIGHTS])
