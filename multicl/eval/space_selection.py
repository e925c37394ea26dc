"""Choose among candidate embedding spaces on the training rows alone (no held-out data).

No single space wins nearest-neighbour search on every data set (docs/series.md): a learned embedding beats the raw
values on some sets and loses on others, and which one a user's set is cannot be known in advance. The UCR archive
chooses its DTW window the same way, by leave-one-out 1-NN on the training split.

``select_space(spaces, y, criterion)`` scores every candidate ``{name: (N, D) embeddings of the same N training
rows}`` with labels ``y`` and returns a :class:`SpaceChoice`: the best name and every candidate's scores.

* ``"nn"``: the mean of leave-one-out cosine 1-NN and 5-NN (distance-weighted, as the probes of
  :mod:`multicl.eval.probe`) accuracy;
* ``"all"``: the mean of those two and the stratified cross-validated accuracy (folds = min(5, rarest class)) of
  the logistic-regression and RBF-SVM probes (the SVM with its own inner C search, :mod:`multicl.eval.svm_probe`).

Ties go to the earliest candidate in ``spaces``' order: list the simplest first. Accuracies are x100.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import StratifiedKFold

from multicl.eval.probe import linear_predict, unit_rows
from multicl.eval.svm_probe import fit_svm

CRITERIA = ("nn", "all")


@dataclass(frozen=True)
class SpaceChoice:
    """``name``: the chosen candidate; ``scores``: ``{candidate: {"1nn", "knn", ["linear", "svm"], "criterion"}}``."""

    name: str
    criterion: str
    scores: dict[str, dict[str, float]]


def loo_knn_accuracy(z: np.ndarray, y: np.ndarray, k: int) -> float:
    """Leave-one-out cosine kNN accuracy (x100): each row is classified by its ``k`` nearest *other* rows, votes
    weighted by 1 / euclidean distance of the unit vectors (sklearn's ``weights="distance"``; ``k = 1`` is the
    plain nearest neighbour). Equal votes go to the lowest class id."""
    y = np.asarray(y)
    if len(y) < 2:
        raise ValueError("leave-one-out needs at least two rows")
    u = unit_rows(np.asarray(z, dtype=np.float64))
    similarity = u @ u.T
    np.fill_diagonal(similarity, -np.inf)
    k = min(k, len(y) - 1)
    nearest = np.argsort(-similarity, axis=1, kind="stable")[:, :k]  # (N, k)
    distance = np.sqrt(np.clip(2.0 - 2.0 * np.take_along_axis(similarity, nearest, 1), 0.0, None))
    classes, codes = np.unique(y, return_inverse=True)
    if k == 1:
        predicted = codes[nearest[:, 0]]
    else:
        weights = 1.0 / np.maximum(distance, 1e-12)
        votes = np.zeros((len(y), len(classes)))
        np.add.at(votes, (np.arange(len(y))[:, None], codes[nearest]), weights)
        predicted = votes.argmax(1)
    return 100.0 * float(np.mean(predicted == codes))


def cv_probe_accuracy(z: np.ndarray, y: np.ndarray, probe: str, seed: int = 0) -> float:
    """Stratified k-fold accuracy (x100, pooled over the folds) of ``probe`` ("linear" or "svm") on ``z``;
    folds = min(5, rows of the rarest class), at least 2."""
    z, y = np.asarray(z), np.asarray(y)
    folds = min(5, int(np.unique(y, return_counts=True)[1].min()))
    if folds < 2:
        raise ValueError("cross-validation needs at least two rows of every class")
    correct = 0
    for fit, held in StratifiedKFold(folds, shuffle=True, random_state=seed).split(z, y):
        if probe == "linear":
            predicted = linear_predict(z[fit], y[fit], z[held], max_iter=3000)
        elif probe == "svm":
            predicted = fit_svm(z[fit], y[fit], seed=seed)[0].predict(np.asarray(z[held], dtype=np.float64))
        else:
            raise ValueError(f"probe must be 'linear' or 'svm', got {probe!r}")
        correct += int(np.sum(predicted == y[held]))
    return 100.0 * correct / len(y)


def space_scores(z: np.ndarray, y: np.ndarray, criterion: str, seed: int = 0) -> dict[str, float]:
    """One candidate's selection scores under ``criterion`` ("nn" or "all"), with ``"criterion"``: their mean."""
    if criterion not in CRITERIA:
        raise ValueError(f"criterion must be one of {CRITERIA}, got {criterion!r}")
    scores = {"1nn": loo_knn_accuracy(z, y, 1), "knn": loo_knn_accuracy(z, y, 5)}
    if criterion == "all":
        scores |= {"linear": cv_probe_accuracy(z, y, "linear", seed), "svm": cv_probe_accuracy(z, y, "svm", seed)}
    return scores | {"criterion": float(np.mean(list(scores.values())))}


def select_space(spaces: dict[str, np.ndarray], y: np.ndarray, criterion: str = "nn", seed: int = 0) -> SpaceChoice:
    """The candidate of ``spaces`` with the highest selection score on the training rows (ties: the earliest)."""
    if not spaces:
        raise ValueError("select_space needs at least one candidate space")
    rows = {len(z) for z in spaces.values()}
    if rows != {len(y)}:
        raise ValueError(f"every candidate must embed the same {len(y)} rows as the labels, got row counts {sorted(rows)}")
    scores = {name: space_scores(z, y, criterion, seed) for name, z in spaces.items()}
    best = max(scores, key=lambda name: (scores[name]["criterion"], -list(spaces).index(name)))
    return SpaceChoice(best, criterion, scores)
