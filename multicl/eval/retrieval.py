"""Retrieval evaluation: recall@k, MRR@k, nDCG@k (binary relevance), exactly and through HNSW.

``RetrievalEvaluator(queries, corpus, relevant)(encode)`` embeds both sides with ``encode``
(any modality: texts, vectors, clips), ranks the corpus for each query with an exact index and,
when ``hnsw=True``, also with :class:`~multicl.negatives.ann_index.HnswIndex`, and reports the
metrics of both plus the index's own recall against exact search (``index_recall@k``).
"""
from __future__ import annotations

import math
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from multicl.negatives.ann_index import ExactIndex, HnswIndex


def ranking_metrics(ranked: np.ndarray, relevant: Sequence[set[int]], ks: Sequence[int]) -> dict[str, float]:
    """Mean recall@k, MRR@k and nDCG@k over queries. ``ranked`` (Q, K) holds corpus positions,
    best first; ``relevant[q]`` the set of relevant corpus positions of query q."""
    out: dict[str, float] = {}
    for k in ks:
        recall, mrr, ndcg = [], [], []
        for row, rel in zip(ranked[:, :k], relevant):
            hits = [i for i, c in enumerate(row.tolist()) if c in rel]
            recall.append(len(hits) / len(rel))
            mrr.append(1.0 / (hits[0] + 1) if hits else 0.0)
            dcg = sum(1.0 / math.log2(i + 2) for i in hits)
            ideal = sum(1.0 / math.log2(i + 2) for i in range(min(len(rel), k)))
            ndcg.append(dcg / ideal)
        out[f"recall@{k}"] = float(np.mean(recall))
        out[f"mrr@{k}"] = float(np.mean(mrr))
        out[f"ndcg@{k}"] = float(np.mean(ndcg))
    return out


class RetrievalEvaluator:
    """Args:
        queries / corpus: raw items ``encode`` understands.
        relevant: for each query position, the relevant corpus positions (non-empty).
        ks: cut-offs. space: similarity of the indexes. hnsw: also search through HnswIndex.
        name: prefix of the result keys. ``primary_metric`` is ``ndcg@{max k}``.
    """

    def __init__(self, queries: Sequence[Any], corpus: Sequence[Any], relevant: Sequence[set[int]] | Mapping[int, set[int]],
                 ks: Sequence[int] = (1, 5, 10), space: str = "cosine", hnsw: bool = True, name: str = "") -> None:
        if isinstance(relevant, Mapping):
            relevant = [set(relevant.get(q, set())) for q in range(len(queries))]
        if len(relevant) != len(queries):
            raise ValueError(f"relevant has {len(relevant)} entries for {len(queries)} queries")
        empty = [q for q, rel in enumerate(relevant) if not rel]
        if empty:
            raise ValueError(f"queries without any relevant corpus item: {empty[:10]} (drop them: recall is undefined)")
        out_of_range = [c for rel in relevant for c in rel if not 0 <= c < len(corpus)]
        if out_of_range:
            raise ValueError(f"relevant positions outside the corpus of {len(corpus)}: {out_of_range[:10]}")
        if not ks or min(ks) <= 0:
            raise ValueError(f"ks must be positive cut-offs, got {ks}")
        self.queries, self.corpus, self.relevant = list(queries), list(corpus), list(relevant)
        self.ks, self.space, self.hnsw, self.name = tuple(sorted(ks)), space, hnsw, name
        self.primary_metric = self._key(f"ndcg@{self.ks[-1]}")

    def _key(self, metric: str) -> str:
        return f"{self.name}_{metric}" if self.name else metric

    def __call__(self, encode: Callable[[list[Any]], np.ndarray]) -> dict[str, float]:
        q = np.asarray(encode(self.queries), dtype=np.float32)
        c = np.asarray(encode(self.corpus), dtype=np.float32)
        k = min(self.ks[-1], len(self.corpus))
        exact = ExactIndex(c.shape[1], self.space)
        exact.add(c, np.arange(len(c)))
        exact_ids, _ = exact.search(q, k)
        out = {self._key(m): v for m, v in ranking_metrics(exact_ids, self.relevant, self.ks).items()}
        if self.hnsw:
            index = HnswIndex(c.shape[1], self.space, initial_capacity=len(c))
            index.add(c, np.arange(len(c)))
            hnsw_ids, _ = index.search(q, k)
            out.update({self._key(f"hnsw_{m}"): v for m, v in ranking_metrics(hnsw_ids, self.relevant, self.ks).items()})
            overlap = np.mean([len(set(a) & set(b)) / k for a, b in zip(exact_ids.tolist(), hnsw_ids.tolist())])
            out[self._key(f"index_recall@{k}")] = float(overlap)
        return out
