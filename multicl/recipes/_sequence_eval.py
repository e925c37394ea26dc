"""Scoring helpers of the sequence recipe: probes on embeddings (kNN, linear, SVM), raw-series baselines, window labels and AUROC."""
from __future__ import annotations

import logging
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score
from sklearn.neighbors import KNeighborsClassifier

from multicl.eval.anomaly import knn_anomaly_scores
from multicl.eval.dtw import dtw_1nn_predict, dtw_cell_count
from multicl.eval.probe import knn_predict, knn_proba, linear_predict, linear_proba, probe_accuracies
from multicl.eval.svm_probe import svm_probe, uses_ts2vec_small_set_rule

logger = logging.getLogger(__name__)


def resample(series: np.ndarray, length: int) -> np.ndarray:
    """(T, C) -> (length, C) by linear interpolation (equal lengths for euclidean distances)."""
    if len(series) == length:
        return series
    src = np.linspace(0, 1, len(series))
    dst = np.linspace(0, 1, length)
    return np.stack([np.interp(dst, src, series[:, c]) for c in range(series.shape[1])], axis=1)


def embedding_scores(train_z, y_train, test_z, y_test, k: int, prefix: str) -> dict[str, float]:
    """``{prefix}_1nn_accuracy`` (cosine nearest neighbour: the counterpart of the raw series' euclidean
    1-NN), ``{prefix}_knn_accuracy`` (cosine, distance-weighted), ``{prefix}_linear_accuracy`` (logistic
    regression) and ``{prefix}_svm_accuracy`` (TS2Vec's RBF SVM, C by cross-validation on the
    training rows; ``{prefix}_svm_C``), x100; where TS2Vec's code would skip the C search (fewer than 50 training
    rows or 5 per class) also ``{prefix}_svm_ts2vec_rule_accuracy``, its hard-margin SVM."""
    out = probe_accuracies(train_z, y_train, test_z, y_test, k, prefix)
    out[f"{prefix}_1nn_accuracy"] = 100 * float(np.mean(knn_predict(train_z, y_train, test_z, k=1) == np.asarray(y_test)))
    return out | svm_scores(train_z, y_train, test_z, y_test, prefix)


def svm_scores(train_x, y_train, test_x, y_test, prefix: str) -> dict[str, float]:
    """``{prefix}_svm_accuracy`` / ``_svm_C`` and, where TS2Vec's small-set rule applies, ``_svm_ts2vec_rule_accuracy``."""
    svm = svm_probe(train_x, y_train, test_x, y_test)
    out = {f"{prefix}_svm_accuracy": svm["accuracy"], f"{prefix}_svm_C": svm["C"]}
    if uses_ts2vec_small_set_rule(np.asarray(y_train)):
        out[f"{prefix}_svm_ts2vec_rule_accuracy"] = svm_probe(train_x, y_train, test_x, y_test, ts2vec_small_set_rule=True)["accuracy"]
    return out


def raw_series_knn(adapter: Any, train: list[np.ndarray], y_train, test: list[np.ndarray], y_test, k: int, prefix: str = "test",
                   dtw_band: float | None = 0.1, dtw_max_cells: float | None = None) -> dict[str, float]:
    """The classic baselines on the standardised raw series (series of other lengths resampled to
    the longest training length): euclidean 1-NN / k-NN, logistic regression, the RBF SVM of
    :func:`embedding_scores` and (``dtw_band`` set) 1-NN under DTW with that Sakoe-Chiba band, unless it
    would fill more than ``dtw_max_cells`` band cells: then ``{prefix}_raw_dtw_skipped_cells`` says how many."""
    length = max(len(s) for s in train)

    def steps(series: list[np.ndarray]) -> np.ndarray:
        return np.stack([resample((s - adapter.center) / adapter.scale, length) for s in series])  # (N, length, C)

    s_train, s_test = steps(train), steps(test)
    x_train, x_test = s_train.reshape(len(train), -1), s_test.reshape(len(test), -1)
    out = {}
    for name, neighbours in (("1nn", 1), ("knn", k)):
        clf = KNeighborsClassifier(n_neighbors=min(neighbours, len(x_train)), weights="distance", algorithm="brute").fit(x_train, y_train)
        out[f"{prefix}_raw_{name}_accuracy"] = 100 * float(np.mean(clf.predict(x_test) == y_test))
    out[f"{prefix}_raw_linear_accuracy"] = 100 * float(np.mean(linear_predict(x_train, y_train, x_test, max_iter=3000) == y_test))
    out |= svm_scores(x_train, y_train, x_test, y_test, f"{prefix}_raw")
    if dtw_band is not None:
        cells = dtw_cell_count(len(s_test), len(s_train), length, length, dtw_band)
        if dtw_max_cells is not None and cells > dtw_max_cells:
            logger.warning("[sequence_contrastive] DTW 1-NN baseline skipped: %.2g band cells (%d x %d series of %d steps, band %g) "
                           "exceed --dtw-max-cells %.2g; raise it to run it anyway", cells, len(s_test), len(s_train), length, dtw_band, dtw_max_cells)
            out[f"{prefix}_raw_dtw_skipped_cells"] = float(cells)
        else:
            logger.info("[sequence_contrastive] DTW 1-NN baseline: %.2g band cells (a few hundred million per second per core)", cells)
            predicted = dtw_1nn_predict(s_train, y_train, s_test, dtw_band, progress=True)
            out[f"{prefix}_raw_dtw_1nn_accuracy"] = 100 * float(np.mean(predicted == y_test))
    return out


def window_labels(step_labels: np.ndarray | None, starts: list[int], length: int) -> np.ndarray | None:
    """The majority label of each window's steps (None without labels)."""
    if step_labels is None:
        return None
    labels = np.asarray(step_labels).astype(np.int64)
    if labels.min() < 0:
        raise ValueError("window labels must be non-negative integers")
    return np.array([np.bincount(labels[s : s + length]).argmax() for s in starts])


def auroc(y: np.ndarray, proba: np.ndarray, classes: np.ndarray) -> float:
    """Binary: AUROC of the higher class's score; more classes: macro one-vs-rest (x100)."""
    if len(classes) == 2:
        return 100 * float(roc_auc_score(y == classes[1], proba[:, 1]))
    present = [i for i, c in enumerate(classes) if 0 < np.sum(y == c) < len(y)]
    return 100 * float(np.mean([roc_auc_score(y == classes[i], proba[:, i]) for i in present]))


def stream_scores(train_z, y_train, test_z, y_test, k: int) -> dict[str, Any]:
    """Window probes: kNN / linear accuracy and AUROC, and a label-free kNN-distance anomaly AUROC.

    ``auroc`` is the linear probe's; it is None (with ``auroc_note``) when the test or training
    windows hold a single class, where no AUROC exists.
    """
    if y_train is None or y_test is None:
        return {"auroc": None, "auroc_note": "the stream has no label column"}
    train_classes, test_classes = np.unique(y_train), np.unique(y_test)
    if len(train_classes) < 2:
        return {"auroc": None, "auroc_note": f"every training window has label {train_classes[0]}: nothing to learn a probe from"}
    # one fit per probe: predictions are the argmax of the scores the AUROC uses
    knn, classes = knn_proba(train_z, y_train, test_z, k, weights="distance")
    linear, _ = linear_proba(train_z, y_train, test_z, max_iter=3000)
    out: dict[str, Any] = {"knn_accuracy": 100 * float(np.mean(classes[knn.argmax(1)] == y_test)),
                           "linear_accuracy": 100 * float(np.mean(classes[linear.argmax(1)] == y_test))}
    if len(test_classes) < 2:
        return out | {"auroc": None, "auroc_note": f"every test window has label {test_classes[0]}"}
    out["knn_auroc"] = auroc(y_test, knn, classes)
    out["linear_auroc"] = out["auroc"] = auroc(y_test, linear, classes)
    if len(train_classes) == 2:  # distance to the normal (lower-label) training windows, no labels needed at test time
        normal = train_z[y_train == train_classes[0]]
        scores = knn_anomaly_scores(normal, test_z, k=min(k, len(normal)))
        out["distance_auroc"] = 100 * float(roc_auc_score(y_test == train_classes[1], scores))
    return out
