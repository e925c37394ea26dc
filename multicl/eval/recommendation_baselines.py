"""Recommendation baselines under the same protocol: popularity, ItemKNN (cosine), BPR-MF.

Each ``fit_*`` takes the (users x items) binary training matrix and returns
``score_fn(user_rows) -> (rows, items)`` scores for :func:`multicl.eval.recommendation.topk_metrics`.
ItemKNN follows RecBole's ``ItemKNN`` (cosine, shrink 0, each item keeps its ``k`` most similar
items; score(u, j) = sum over u's items i of sim(i, j)). BPR-MF follows RecBole's ``BPR``
(embedding 64, Adam lr 1e-3, batch 2048, one uniform negative per positive, early stopping on
the validation NDCG@10 with patience 10 evaluations).
"""
from __future__ import annotations

import logging
from typing import Callable

import numpy as np
import torch

logger = logging.getLogger("multicl.eval.recommendation_baselines")


def fit_popularity(train) -> Callable[[np.ndarray], np.ndarray]:
    counts = np.asarray(train.sum(0)).ravel().astype(np.float32)  # (I,)
    return lambda rows: np.broadcast_to(counts, (len(rows), counts.size))


def fit_itemknn(train, k: int = 100, shrink: float = 0.0) -> Callable[[np.ndarray], np.ndarray]:
    from scipy.sparse import csr_matrix

    x = train.astype(np.float32).tocsc()
    norms = np.sqrt(np.asarray(x.multiply(x).sum(0)).ravel())  # (I,)
    sim = (x.T @ x).toarray()  # (I, I) co-occurrence
    sim = sim / (np.outer(norms, norms) + shrink + 1e-6)
    np.fill_diagonal(sim, 0.0)
    # keep, for every item j (column), its k most similar items i
    if k < sim.shape[0]:
        cut = np.argpartition(-sim, k, axis=0)[k:]
        np.put_along_axis(sim, cut, 0.0, axis=0)
    w = csr_matrix(sim)
    r = train.astype(np.float32).tocsr()
    return lambda rows: (r[rows] @ w).toarray()


def fit_bpr(train, valid_fn: Callable[[Callable], float] | None = None, embed_dim: int = 64, learning_rate: float = 1e-3,
            batch_size: int = 2048, max_epochs: int = 300, patience: int = 10, eval_every: int = 1, seed: int = 0) -> Callable:
    """``valid_fn(score_fn) -> validation NDCG@10`` drives early stopping (best epoch kept)."""
    g = torch.Generator().manual_seed(seed)
    n_users, n_items = train.shape
    user_emb = torch.nn.Embedding(n_users, embed_dim)
    item_emb = torch.nn.Embedding(n_items, embed_dim)
    torch.nn.init.xavier_normal_(user_emb.weight, generator=g)
    torch.nn.init.xavier_normal_(item_emb.weight, generator=g)
    return train_pairwise(train, lambda: (user_emb.weight, item_emb.weight), [user_emb.weight, item_emb.weight], g, valid_fn,
                          learning_rate, batch_size, max_epochs, patience, eval_every, name="BPR")


def train_pairwise(train, tables: Callable[[], tuple[torch.Tensor, torch.Tensor]], parameters: list[torch.nn.Parameter],
                   generator: torch.Generator, valid_fn: Callable[[Callable], float] | None, learning_rate: float, batch_size: int,
                   max_epochs: int, patience: int, eval_every: int = 1,
                   regulariser: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
                   name: str = "BPR") -> Callable[[np.ndarray], np.ndarray]:
    """The BPR loop BPR-MF and LightGCN share: per epoch, every training interaction (u, i) in
    shuffled batches with one uniform negative item j, loss ``-log sigmoid(s(u, i) - s(u, j))``
    (+ ``regulariser(u, i, j)``), Adam; ``valid_fn`` every ``eval_every`` epochs drives early
    stopping (patience in evaluations) and the best epoch's ``parameters`` are restored.
    ``tables() -> (user_z (U, D), item_z (I, D))`` with gradient (the model's embeddings, propagated
    or not). Returns ``score_fn(user_rows) -> (rows, items)`` dot products."""
    coo = train.tocoo()
    users, items = torch.as_tensor(coo.row, dtype=torch.long), torch.as_tensor(coo.col, dtype=torch.long)
    n_items = train.shape[1]
    opt = torch.optim.Adam(parameters, lr=learning_rate)

    def score_fn(rows):
        with torch.no_grad():
            user_z, item_z = tables()
            return (user_z[torch.as_tensor(rows)] @ item_z.T).numpy()

    best, best_state, bad = -1.0, None, 0
    for epoch in range(max_epochs):
        perm = torch.randperm(len(users), generator=generator)
        for start in range(0, len(perm), batch_size):
            idx = perm[start : start + batch_size]
            u, i = users[idx], items[idx]
            j = torch.randint(0, n_items, (len(idx),), generator=generator)
            user_z, item_z = tables()
            ue = user_z[u]
            loss = -torch.nn.functional.logsigmoid((ue * item_z[i]).sum(-1) - (ue * item_z[j]).sum(-1)).mean()
            if regulariser is not None:
                loss = loss + regulariser(u, i, j)
            opt.zero_grad()
            loss.backward()
            opt.step()
        if valid_fn is None or (epoch + 1) % eval_every:
            continue
        value = valid_fn(score_fn)
        if value > best:
            best, bad, best_state = value, 0, [p.detach().clone() for p in parameters]
        else:
            bad += 1
            if bad >= patience:
                logger.info("%s stopped at epoch %d (best valid ndcg@10 %.4f)", name, epoch + 1, best)
                break
    if best_state is not None:
        with torch.no_grad():
            for p, saved in zip(parameters, best_state):
                p.copy_(saved)
    return score_fn
