"""NSL-KDD difficulty scores and the dev split carved from the training file.

The last field of every NSL-KDD record is its difficulty: how many of 21 classifiers (trained by
the dataset's authors) labelled it correctly. KDDTest-21 is the test rows with difficulty < 21;
the same rule on the training file gives a "hard" dev subset. Defaults are chosen on a
stratified dev split of KDDTrain+_20Percent, never on KDDTest+.
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from multicl.data.text_files import read_text

HARD_BELOW = 21  # KDDTest-21: difficulty < 21


def read_difficulty(path: str | Path) -> np.ndarray | None:
    """Per-record difficulty (int) of an NSL-KDD file, or None when the file has no such field (KDD99, CSV)."""
    rows = [r for r in csv.reader(read_text(path).splitlines()) if r]
    if not rows or len(rows[0]) != 43:
        return None
    return np.array([int(float(r[42])) for r in rows])


def stratified_dev_split(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(fit rows, dev rows): ``fraction`` of each label's rows (at least one when it has two) go to dev."""
    if not 0 < fraction < 1:
        raise ValueError(f"dev fraction must be in (0, 1), got {fraction}")
    rng = np.random.default_rng(seed)
    dev = []
    for value in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == value))
        take = int(round(fraction * len(members))) if len(members) > 1 else 0
        dev.append(members[:max(take, 1 if len(members) > 1 else 0)])
    dev_rows = np.sort(np.concatenate(dev))
    return np.setdiff1d(np.arange(len(labels)), dev_rows), dev_rows
