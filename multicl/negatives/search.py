"""Top-k neighbour search for the miner: exact chunked matmul or hnswlib, chosen by measurement.

``benchmarks/mining.py`` measured the crossover on 2 CPU cores: exact search wins below about
20k vectors, hnswlib above it; on CUDA the exact matmul wins at every size we can hold.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from multicl.negatives.ann_index import HnswIndex, exact_topk

INDEX_KINDS = ("auto", "exact", "hnsw")


@dataclass(frozen=True)
class SearchResult:
    rows: torch.Tensor  # (Q, k) corpus rows, best first, on CPU
    similarities: torch.Tensor  # (Q, k)
    kind: str  # "exact" | "hnsw"
    index_seconds: float
    search_seconds: float


class NeighbourSearch:
    """``search(queries, corpus, k)`` on normalised (cosine) or raw (ip) embeddings.

    Args:
        index: ``exact``, ``hnsw`` or ``auto`` (exact on CUDA or up to ``exact_max_size`` rows).
        update_in_place: keep the hnswlib graph between calls and re-add moved vectors instead
            of rebuilding (only while the corpus size stays the same).
    """

    def __init__(self, space: str = "cosine", index: str = "auto", exact_max_size: int = 20_000, update_in_place: bool = False,
                 hnsw_M: int = 16, hnsw_ef_construction: int = 100, hnsw_ef: int = 64, seed: int = 0) -> None:
        if index not in INDEX_KINDS:
            raise ValueError(f"index must be one of {INDEX_KINDS}, got {index!r}")
        self.space, self.index, self.exact_max_size = space, index, exact_max_size
        self.update_in_place = update_in_place
        self.hnsw_M, self.hnsw_ef_construction, self.hnsw_ef, self.seed = hnsw_M, hnsw_ef_construction, hnsw_ef, seed
        self._hnsw: HnswIndex | None = None

    def kind_for(self, device: torch.device, size: int) -> str:
        if self.index != "auto":
            return self.index
        return "exact" if device.type == "cuda" or size <= self.exact_max_size else "hnsw"

    def search(self, queries: torch.Tensor, corpus: torch.Tensor, k: int) -> SearchResult:
        kind = self.kind_for(corpus.device, len(corpus))
        k = min(k, len(corpus))
        t = time.perf_counter()
        if kind == "exact":
            rows, sims = exact_topk(queries, corpus, k)
            return SearchResult(rows.cpu(), sims.cpu(), kind, 0.0, time.perf_counter() - t)
        index_seconds = self._build(corpus.cpu().numpy())
        ids, sims = self._hnsw.search(queries.cpu().numpy(), k)
        return SearchResult(torch.from_numpy(ids), torch.from_numpy(sims), kind, index_seconds,
                            time.perf_counter() - t - index_seconds)

    def _build(self, corpus: np.ndarray) -> float:
        t = time.perf_counter()
        reuse = (self.update_in_place and self._hnsw is not None and self._hnsw.dim == corpus.shape[1]
                 and len(self._hnsw) == len(corpus))
        if not reuse:
            self._hnsw = HnswIndex(corpus.shape[1], space=self.space, M=self.hnsw_M, ef_construction=self.hnsw_ef_construction,
                                   ef=self.hnsw_ef, initial_capacity=len(corpus), seed=self.seed)
        self._hnsw.add(corpus, np.arange(len(corpus)))  # re-adding an id moves its vector
        return time.perf_counter() - t
