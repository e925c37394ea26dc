"""Probes of frozen embeddings: kNN (cosine) and linear (logistic regression) classification."""
from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import StandardScaler


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Each row scaled to unit L2 length (all-zero rows stay zero)."""
    return x / np.clip(np.linalg.norm(x, axis=1, keepdims=True), 1e-12, None)


def join_unit_blocks(*blocks: np.ndarray, weights: tuple[float, ...] | None = None) -> np.ndarray:
    """``[w_1 * unit(b_1), w_2 * unit(b_2), ...]``: feature blocks joined so that each weighs ``w_i^2`` in the
    cosine of the (re-normalised) result, whatever its width or scale."""
    weights = weights or (1.0,) * len(blocks)
    if len(weights) != len(blocks):
        raise ValueError(f"{len(blocks)} blocks but {len(weights)} weights")
    return np.concatenate([w * unit_rows(np.asarray(b)) for b, w in zip(blocks, weights)], axis=1)


def _fit_knn(train_x, train_y, k: int, weights: str) -> KNeighborsClassifier:
    if len(train_x) < 1:
        raise ValueError("kNN needs at least one training embedding")
    clf = KNeighborsClassifier(n_neighbors=min(k, len(train_x)), weights=weights, metric="euclidean", algorithm="brute", n_jobs=1)
    return clf.fit(unit_rows(np.asarray(train_x)), train_y)  # unit vectors: euclidean order = cosine order


def _fit_linear(train_x, train_y, max_iter: int, seed: int | None):
    scaler = StandardScaler().fit(train_x)
    clf = LogisticRegression(max_iter=max_iter, random_state=seed).fit(scaler.transform(train_x), train_y)
    return scaler, clf


def knn_predict(train_x, train_y, test_x, k: int = 10, weights: str = "uniform") -> np.ndarray:
    """Cosine kNN predictions. ``weights="distance"`` weighs votes by closeness (as in DINO's kNN
    evaluation): with few labels a rare class can still win nearby."""
    return _fit_knn(train_x, train_y, k, weights).predict(unit_rows(np.asarray(test_x)))


def linear_predict(train_x, train_y, test_x, max_iter: int = 1000, seed: int | None = None) -> np.ndarray:
    """Standardised logistic regression on frozen embeddings -> predictions."""
    scaler, clf = _fit_linear(train_x, train_y, max_iter, seed)
    return clf.predict(scaler.transform(test_x))


def knn_proba(train_x, train_y, test_x, k: int = 10, weights: str = "uniform") -> tuple[np.ndarray, np.ndarray]:
    """Cosine kNN class scores -> ``(proba (N, classes), classes)``: the (weighted) vote shares;
    ``classes[proba.argmax(1)]`` are :func:`knn_predict`'s predictions."""
    clf = _fit_knn(train_x, train_y, k, weights)
    return clf.predict_proba(unit_rows(np.asarray(test_x))), clf.classes_


def linear_proba(train_x, train_y, test_x, max_iter: int = 1000, seed: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Standardised logistic regression -> ``(proba (N, classes), classes)``."""
    scaler, clf = _fit_linear(train_x, train_y, max_iter, seed)
    return clf.predict_proba(scaler.transform(test_x)), clf.classes_


def probe_accuracies(train_z, train_y, test_z, test_y, k: int, prefix: str) -> dict[str, float]:
    """``{prefix}_knn_accuracy`` (distance-weighted cosine kNN) and ``{prefix}_linear_accuracy``
    (logistic regression), x100: the two probes the audio and sequence recipes report."""
    knn = knn_predict(train_z, train_y, test_z, k, weights="distance")
    linear = linear_predict(train_z, train_y, test_z, max_iter=3000)
    return {f"{prefix}_knn_accuracy": 100 * float(np.mean(knn == test_y)), f"{prefix}_linear_accuracy": 100 * float(np.mean(linear == test_y))}


def knn_probe(train_x, train_y, test_x, test_y, k: int = 10, prefix: str = "knn") -> dict[str, float]:
    """Cosine kNN (majority of the k nearest training embeddings) -> accuracy, macro-F1 (x100)."""
    if len(train_x) < k:
        raise ValueError(f"kNN with k={k} needs at least {k} training embeddings, got {len(train_x)}")
    pred = knn_predict(train_x, train_y, test_x, k)
    return {f"{prefix}_accuracy": 100 * accuracy_score(test_y, pred), f"{prefix}_macro_f1": 100 * f1_score(test_y, pred, average="macro")}


def linear_probe(train_x, train_y, test_x, test_y, max_iter: int = 1000, prefix: str = "linear") -> dict[str, float]:
    """Standardised logistic regression on frozen embeddings -> accuracy, macro-F1 (x100)."""
    pred = linear_predict(train_x, train_y, test_x, max_iter)
    return {f"{prefix}_accuracy": 100 * accuracy_score(test_y, pred), f"{prefix}_macro_f1": 100 * f1_score(test_y, pred, average="macro")}
