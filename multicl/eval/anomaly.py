"""Anomaly detection scores and their figures (no attack labels needed to score).

- :func:`knn_anomaly_scores`: mean distance to the ``k`` nearest normal vectors (exact search, hnswlib beyond 1e10 pairs);
- NeuTraL-AD's scores come from :func:`multicl.train.neutral_ad.anomaly_scores`;
- :func:`rank_mean`: several detectors' scores as one (the mean of their ranks);
- :func:`detection_scores`: AUROC and detection rate at a false-alarm rate;
- :func:`f1_at_known_ratio`: the KDDCUP99 / KDDRev protocol's F1 (threshold at the anomaly share).
Every function takes scores where higher means more anomalous.
"""
from __future__ import annotations

import numpy as np
import torch
from scipy.stats import rankdata
from sklearn.metrics import f1_score, roc_auc_score, roc_curve

from multicl.negatives.ann_index import HnswIndex, exact_topk


EXACT_PAIRS = 1e10  # distinct normal rows x distinct queries up to which the neighbours are found exactly (~30 s per 1e9 pairs of 78 dims, one core)


def exact_neighbours(reference: np.ndarray, queries: np.ndarray, k: int, space: str = "cosine") -> tuple[np.ndarray, np.ndarray]:
    """Brute-force ``k`` nearest rows of ``reference`` for each query -> (labels (Q, k), distances (Q, k)
    ascending; 1 - cosine or squared L2), by :func:`~multicl.negatives.ann_index.exact_topk` on float64
    inputs (the neighbours of lattice-like rows are chosen without float32 rounding; distances come back float32-exact)."""
    ref, q = torch.from_numpy(np.asarray(reference, dtype=np.float64)), torch.from_numpy(np.asarray(queries, dtype=np.float64))
    if space == "cosine":
        ref, q = torch.nn.functional.normalize(ref, dim=1), torch.nn.functional.normalize(q, dim=1)
    rows, sims = exact_topk(q, ref, k, "ip" if space == "cosine" else "l2", chunk_size=max(1, int(2e7 // max(1, len(ref)))))
    distances = 1.0 - sims.double() if space == "cosine" else (-sims.double()).clamp(min=0.0)
    return rows.numpy(), distances.numpy()


def knn_anomaly_scores(normal: np.ndarray, queries: np.ndarray, k: int = 10, space: str = "cosine",
                       index: HnswIndex | None = None) -> np.ndarray:
    """Score = mean distance (1 - cosine, or squared L2) from each query to its ``k`` nearest normal rows.

    Repeated rows (KDD99 repeats records by the hundred thousand) are handled once: the search runs over
    the distinct normal rows with their counts, and a neighbour that occurs c times fills c of the k
    places, so the score is the one over all rows; repeated queries are searched once. The neighbours
    are exact (brute force) while distinct rows x distinct queries <= ``EXACT_PAIRS`` (the KDD99 protocols: 2.3e9 and 4.3e9): an HNSW graph
    misses neighbours on such lattice-like data (one-hot + clipped quantiles; up to 5 points of
    detection at 1% false alarms on NSL-KDD), and a baseline must not be weakened by its search.
    Beyond that, an hnswlib graph built with one thread (the same graph every run); ``index``: search
    that index instead (its rows as they are)."""
    counts = None
    distinct, inverse = np.unique(np.ascontiguousarray(queries, dtype=np.float32), axis=0, return_inverse=True)
    if index is None:
        normal, counts = np.unique(np.ascontiguousarray(normal, dtype=np.float32), axis=0, return_counts=True)
        if float(len(normal)) * len(distinct) <= EXACT_PAIRS:
            labels, distances = exact_neighbours(normal, distinct, k, space)
        else:
            index = HnswIndex(normal.shape[1], space=space, ef=max(64, k), initial_capacity=len(normal), num_threads=1)
            index.add(normal, np.arange(len(normal)))
            index.set_num_threads(-1)  # searching is per query, the same with any number of threads
    if index is not None:
        labels, sims = index.search(distinct, k)
        distances = 1.0 - sims if space == "cosine" else -sims
    if counts is None:
        score = distances.mean(1)
    else:  # copies of each distinct neighbour among the first k rows
        c = counts[labels]
        before = np.cumsum(c, axis=1) - c
        take = np.clip(k - before, 0, c)
        score = (distances * take).sum(1) / take.sum(1)
    return score[inverse.reshape(-1)]


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
