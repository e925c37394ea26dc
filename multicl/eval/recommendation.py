"""Full-ranking top-k metrics for recommendation (RecBole's definitions).

Every user with at least one ground-truth item ranks *all* items; items in ``exclude`` (those
seen in train, and in valid at test time) are masked out before the top-k. Per user:
``recall@k`` = hits / |ground truth|; ``ndcg@k`` = DCG / IDCG (binary gains, IDCG over
min(|gt|, k) positions); ``mrr@k`` = 1 / rank of the first hit (0 if none); ``hit@k`` = any hit;
``precision@k`` = hits / k. Averaged over users with ground truth. Sampled-negative evaluation
inflates these (DESIGN anchors): this module never samples.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch

LOO_SPLIT = "leave-one-out by time (RecBole LS, order TO: each user's last interaction is test, the one before valid)"
PROTOCOL = ("per-user random 8:1:1 split (RecBole RS, order RO), full ranking over all items, "
            "items seen in train (+ valid at test) masked, metrics @10 averaged over users with ground truth")


def _to_csr(matrix):
    from scipy.sparse import csr_matrix

    return matrix if hasattr(matrix, "indptr") else csr_matrix(matrix)


def topk_metrics(score_fn: Callable[[np.ndarray], np.ndarray | torch.Tensor], ground_truth, exclude=None, k: int = 10,
                 users: Sequence[int] | None = None, candidates: np.ndarray | None = None, batch_size: int = 512) -> dict[str, float]:
    """``score_fn(user_rows) -> (len(rows), num_items)`` scores; ``ground_truth`` / ``exclude``:
    (users x items) sparse or dense binary matrices. ``candidates``: optional item subset to rank
    (cold start); other items are masked. Returns recall/ndcg/mrr/hit/precision @k and ``users``."""
    gt = _to_csr(ground_truth)
    ex = _to_csr(exclude) if exclude is not None else None
    if users is None:
        users = np.flatnonzero(np.diff(gt.indptr) > 0)
    users = np.asarray(users, dtype=np.int64)
    keep = None
    if candidates is not None:
        keep = np.zeros(gt.shape[1], dtype=bool)
        keep[np.asarray(candidates)] = True
    sums = {"recall": 0.0, "ndcg": 0.0, "mrr": 0.0, "hit": 0.0, "precision": 0.0}
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    counted = 0
    for start in range(0, len(users), batch_size):
        rows = users[start : start + batch_size]
        scores = score_fn(rows)
        scores = scores.detach().float().cpu().numpy() if isinstance(scores, torch.Tensor) else np.asarray(scores, dtype=np.float32)
        scores = scores.astype(np.float32, copy=True)
        if ex is not None:
            sub = ex[rows]
            scores[np.repeat(np.arange(len(rows)), np.diff(sub.indptr)), sub.indices] = -np.inf
        if keep is not None:
            scores[:, ~keep] = -np.inf
        top = np.argpartition(-scores, k, axis=1)[:, :k]
        top = np.take_along_axis(top, np.argsort(-np.take_along_axis(scores, top, 1), axis=1, kind="stable"), 1)
        truth = gt[rows]
        for r in range(len(rows)):
            relevant = truth.indices[truth.indptr[r] : truth.indptr[r + 1]]
            if keep is not None:
                relevant = relevant[keep[relevant]]
            if relevant.size == 0:
                continue
            hits = np.isin(top[r], relevant) & np.isfinite(scores[r, top[r]])
            n_hit = hits.sum()
            counted += 1
            sums["recall"] += n_hit / relevant.size
            sums["precision"] += n_hit / k
            sums["hit"] += float(n_hit > 0)
            sums["ndcg"] += float((hits * discounts).sum() / discounts[: min(relevant.size, k)].sum())
            sums["mrr"] += float(1.0 / (np.argmax(hits) + 1)) if n_hit else 0.0
    out = {f"{name}@{k}": value / max(counted, 1) for name, value in sums.items()}
    out["users"] = float(counted)
    return out
