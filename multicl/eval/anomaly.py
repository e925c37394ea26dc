"""Anomaly detection scores and their figures (no attack labels needed to score).

- :func:`knn_anomaly_scores`: mean distance to the ``k`` nearest normal vectors (hnswlib);
- NeuTraL-AD's scores come from :func:`multicl.train.neutral_ad.anomaly_scores`;
- :func:`rank_mean`: several detectors' scores as one (the mean of their ranks);
- :func:`detection_scores`: AUROC and detection rate at a false-alarm rate;
- :func:`f1_at_known_ratio`: the KDDCUP99 / KDDRev protocol's F1 (threshold at the anomaly share).
Every function takes scores where higher means more anomalous.
"""
from __future__ import annotations

import numpy as np
from scipy.stats import rankdata
from sklearn.metrics import f1_score, roc_auc_score, roc_curve

from multicl.negatives.ann_index import HnswIndex


def knn_anomaly_scores(normal: np.ndarray, queries: np.ndarray, k: int = 10, space: str = "cosine",
                       index: HnswIndex | None = None) -> np.ndarray:
    """Score = mean distance (1 - cosine, or squared L2) from each query to its ``k`` nearest
    normal vectors, searched in an hnswlib index built over ``normal`` (or the one given).
    Repeated queries (KDD99 repeats records) are searched once."""
    if index is None:
        index = HnswIndex(normal.shape[1], space=space, ef=max(64, k), initial_capacity=len(normal))
        index.add(normal, np.arange(len(normal)))
    distinct, inverse = np.unique(np.ascontiguousarray(queries, dtype=np.float32), axis=0, return_inverse=True)
    _, sims = index.search(distinct, k)
    distances = 1.0 - sims if space == "cosine" else -sims
    return distances.mean(1)[inverse.reshape(-1)]


def rank_mean(*scores: np.ndarray) -> np.ndarray:
    """Mean of each detector's rank of every row, scaled to (0, 1]: detectors on different scales
    (cosine distances, squared L2, DCL losses) count equally."""
    if not scores:
        raise ValueError("rank_mean needs at least one score array")
    return np.mean([rankdata(s) / len(s) for s in scores], axis=0)


def detection_scores(scores: np.ndarray, is_anomaly: np.ndarray, false_alarm_rate: float = 0.01, prefix: str = "anomaly") -> dict[str, float]:
    """AUROC and the detection rate (true-positive rate) at ``false_alarm_rate`` false positives."""
    is_anomaly = np.asarray(is_anomaly).astype(bool)
    if is_anomaly.all() or not is_anomaly.any():
        raise ValueError("anomaly scoring needs both normal and anomalous test rows")
    fpr, tpr, _ = roc_curve(is_anomaly, scores)
    detection = float(np.interp(false_alarm_rate, fpr, tpr))
    pct = f"{100 * false_alarm_rate:g}".replace(".", "_")
    return {f"{prefix}_auroc": 100 * roc_auc_score(is_anomaly, scores), f"{prefix}_detection_at_{pct}pct_fpr": 100 * detection}


def f1_at_known_ratio(scores: np.ndarray, is_anomaly: np.ndarray) -> float:
    """F1 (x100) of the anomaly class when the rows above the ``normal share`` percentile of the
    scores are flagged: the threshold knows how many anomalies there are (DAGMM / GOAD / NeuTraL-AD)."""
    is_anomaly = np.asarray(is_anomaly).astype(bool)
    threshold = np.percentile(scores, 100 * (1 - is_anomaly.mean()))
    return 100 * float(f1_score(is_anomaly, np.asarray(scores) > threshold))
