"""Anomaly detection by distance to the nearest normal embeddings (no attack labels needed)."""
from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve

from multicl.negatives.ann_index import HnswIndex


def knn_anomaly_scores(normal: np.ndarray, queries: np.ndarray, k: int = 10, space: str = "cosine",
                       index: HnswIndex | None = None) -> np.ndarray:
    """Score = mean distance (1 - cosine, or squared L2) from each query to its ``k`` nearest
    normal vectors, searched in an hnswlib index built over ``normal`` (or the one given)."""
    if index is None:
        index = HnswIndex(normal.shape[1], space=space, ef=max(64, k), initial_capacity=len(normal))
        index.add(normal, np.arange(len(normal)))
    _, sims = index.search(queries, k)
    distances = 1.0 - sims if space == "cosine" else -sims
    return distances.mean(1)


def detection_scores(scores: np.ndarray, is_anomaly: np.ndarray, false_alarm_rate: float = 0.01, prefix: str = "anomaly") -> dict[str, float]:
    """AUROC and the detection rate (true-positive rate) at ``false_alarm_rate`` false positives."""
    is_anomaly = np.asarray(is_anomaly).astype(bool)
    if is_anomaly.all() or not is_anomaly.any():
        raise ValueError("anomaly scoring needs both normal and anomalous test rows")
    fpr, tpr, _ = roc_curve(is_anomaly, scores)
    detection = float(np.interp(false_alarm_rate, fpr, tpr))
    pct = f"{100 * false_alarm_rate:g}".replace(".", "_")
    return {f"{prefix}_auroc": 100 * roc_auc_score(is_anomaly, scores), f"{prefix}_detection_at_{pct}pct_fpr": 100 * detection}
