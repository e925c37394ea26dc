"""Oracle tests for multicl.eval.space_selection: leave-one-out kNN against sklearn refitted without each row,
cross-validated probes against a loop over the same folds, and the choice (best criterion, ties to the earliest)."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.model_selection import StratifiedKFold
from sklearn.neighbors import KNeighborsClassifier

from multicl.eval.probe import linear_predict, unit_rows
from multicl.eval.space_selection import cv_probe_accuracy, loo_knn_accuracy, select_space, space_scores


def blobs(n: int, dim: int, seed: int, spread: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    centres = rng.normal(0, 1, size=(3, dim))
    return centres[y] + spread * rng.normal(0, 1, size=(n, dim)), y


@pytest.mark.parametrize("k", [1, 5])
def test_leave_one_out_knn_equals_sklearn_refit_without_each_row(k):
    z, y = blobs(40, 6, 0, spread=1.5)
    u = unit_rows(z)
    hits = 0
    for i in range(len(y)):
        rest = np.delete(np.arange(len(y)), i)
        clf = KNeighborsClassifier(n_neighbors=k, weights="distance", algorithm="brute").fit(u[rest], y[rest])
        hits += int(clf.predict(u[i : i + 1])[0] == y[i])
    assert loo_knn_accuracy(z, y, k) == pytest.approx(100 * hits / len(y))


def test_leave_one_out_never_counts_the_row_itself():
    z = np.eye(4)  # every row is orthogonal to the others: only itself is close
    y = np.array([0, 1, 2, 3])
    assert loo_knn_accuracy(z, y, 1) == 0.0  # with itself counted it would be 100


def test_cross_validated_linear_probe_equals_a_loop_over_the_same_folds():
    z, y = blobs(30, 4, 1, spread=2.0)
    folds = StratifiedKFold(5, shuffle=True, random_state=0).split(z, y)
    correct = sum(int(np.sum(linear_predict(z[a], y[a], z[b], max_iter=3000) == y[b])) for a, b in folds)
    assert cv_probe_accuracy(z, y, "linear", seed=0) == pytest.approx(100 * correct / len(y))


def test_cross_validation_errors_name_the_problem():
    z, y = blobs(10, 3, 0)
    with pytest.raises(ValueError, match="two rows of every class"):
        cv_probe_accuracy(z, np.array([0] * 9 + [1]), "svm")
    with pytest.raises(ValueError, match="'linear' or 'svm'"):
        cv_probe_accuracy(z, y % 2, "tree")
    with pytest.raises(ValueError, match="criterion"):
        space_scores(z, y, "best")


def test_select_space_picks_the_separable_space_and_breaks_ties_to_the_first():
    good, y = blobs(45, 5, 2, spread=0.1)
    noise = np.random.default_rng(3).normal(size=good.shape)
    choice = select_space({"noise": noise, "good": good}, y, "nn")
    assert choice.name == "good" and choice.scores["good"]["criterion"] == 100.0
    assert choice.scores["noise"]["criterion"] < 70
    tie = select_space({"first": good, "second": good * 3.0}, y, "all")  # cosine and the standardised probes: same scores
    assert tie.name == "first" and set(tie.scores["first"]) == {"1nn", "knn", "linear", "svm", "criterion"}
    with pytest.raises(ValueError, match="same 45 rows"):
        select_space({"a": good, "b": good[:-1]}, y)
