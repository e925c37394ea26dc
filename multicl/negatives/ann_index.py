"""Nearest-neighbour indexes: hnswlib (approximate) and an exact matmul + top-k reference.

Both share one interface: ``add(vectors, ids)``, ``search(queries, k) -> (ids, similarities)``,
``save(path)`` / ``load(path)``, ``len(index)``. Similarities, not distances, come back:
``cosine`` -> cosine similarity, ``ip`` -> inner product, ``l2`` -> negative squared distance
(higher is always closer). Re-adding an id replaces its vector (a refresh after the encoder moved).
"""
from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import numpy as np
import torch

SPACES = ("cosine", "ip", "l2")


def _check_vectors(vectors, dim: int, what: str) -> np.ndarray:
    array = np.asarray(vectors, dtype=np.float32)
    if array.ndim == 1:
        array = array[None, :]
    if array.ndim != 2 or array.shape[1] != dim:
        raise ValueError(f"{what} must have shape (N, {dim}), got {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{what} contain NaN or inf")
    return np.ascontiguousarray(array)


def _check_ids(ids, n: int) -> np.ndarray:
    ids = np.asarray(ids, dtype=np.int64).reshape(-1)
    if ids.shape[0] != n:
        raise ValueError(f"got {ids.shape[0]} ids for {n} vectors")
    if (ids < 0).any():
        raise ValueError("ids must be non-negative integers")
    if len(np.unique(ids)) != n:
        raise ValueError("ids repeat within one add() call")
    return ids


def exact_topk(queries: torch.Tensor, corpus: torch.Tensor, k: int, space: str = "ip",
               chunk_size: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact top-``k`` of every query over ``corpus`` by chunked matmul, on their device.

    ``queries`` (Q, D) and ``corpus`` (N, D), already normalised for cosine. Returns
    ``(rows, similarities)``, each (Q, min(k, N)), best first; rows index ``corpus``. Memory is
    bounded by ``chunk_size * N`` similarities (default: 64M of them, 256 MB in fp32), so 500k
    vectors need no (N, N) matrix.
    """
    k = min(int(k), corpus.shape[0])
    chunk_size = chunk_size or max(1, (1 << 26) // max(1, corpus.shape[0]))
    rows = torch.empty(queries.shape[0], k, dtype=torch.long, device=queries.device)
    sims = torch.empty(queries.shape[0], k, dtype=torch.float32, device=queries.device)
    corpus_sq = (corpus.float() ** 2).sum(1) if space == "l2" else None
    for start in range(0, queries.shape[0], chunk_size):
        q = queries[start : start + chunk_size]
        scores = q @ corpus.T  # (chunk, N)
        if space == "l2":
            scores = 2 * scores - (q.float() ** 2).sum(1, keepdim=True) - corpus_sq
        top_sims, top_rows = torch.topk(scores, k, dim=1)
        rows[start : start + len(q)], sims[start : start + len(q)] = top_rows, top_sims.float()
    return rows, sims


class ExactIndex:
    """Brute-force reference: chunked matmul + top-k. Exact; right for small corpora and tests."""

    def __init__(self, dim: int, space: str = "cosine", chunk_size: int | None = None) -> None:
        if space not in SPACES:
            raise ValueError(f"space must be one of {SPACES}, got {space!r}")
        self.dim, self.space, self.chunk_size = dim, space, chunk_size
        self._vectors = np.zeros((0, dim), dtype=np.float32)
        self._ids = np.zeros(0, dtype=np.int64)
        self._position: dict[int, int] = {}

    def __len__(self) -> int:
        return len(self._ids)

    def _prepare(self, x: np.ndarray) -> np.ndarray:
        if self.space == "cosine":
            return x / np.clip(np.linalg.norm(x, axis=1, keepdims=True), 1e-12, None)
        return x

    def add(self, vectors, ids) -> None:
        vectors = self._prepare(_check_vectors(vectors, self.dim, "vectors"))
        ids = _check_ids(ids, len(vectors))
        new_rows = []
        for row, i in enumerate(ids.tolist()):
            if i in self._position:
                self._vectors[self._position[i]] = vectors[row]
            else:
                new_rows.append(row)
        if new_rows:
            start = len(self._ids)
            self._vectors = np.concatenate([self._vectors, vectors[new_rows]])
            self._ids = np.concatenate([self._ids, ids[new_rows]])
            self._position.update({int(i): start + j for j, i in enumerate(ids[new_rows].tolist())})

    def search(self, queries, k: int) -> tuple[np.ndarray, np.ndarray]:
        queries = self._prepare(_check_vectors(queries, self.dim, "queries"))
        if len(self) == 0:
            raise ValueError("the index is empty: add vectors before searching")
        rows, sims = exact_topk(torch.from_numpy(queries), torch.from_numpy(self._vectors), k, self.space, self.chunk_size)
        return self._ids[rows.numpy()], sims.numpy()

    def save(self, path: str | Path) -> None:
        from multicl.utils.io import atomic_write_json

        path = Path(path)
        tmp = path.with_name(f".{path.name}.tmp.npz")
        np.savez(tmp, vectors=self._vectors, ids=self._ids)
        os.replace(tmp, path.with_suffix(".npz"))
        atomic_write_json(path.with_suffix(".json"), {"kind": "exact", "dim": self.dim, "space": self.space, "count": len(self)})

    @classmethod
    def load(cls, path: str | Path) -> "ExactIndex":
        path = Path(path)
        meta = _read_meta(path, "exact")
        data = np.load(path.with_suffix(".npz"))
        index = cls(meta["dim"], meta["space"])
        if data["vectors"].shape != (meta["count"], meta["dim"]):
            raise ValueError(f"{path}: stored vectors {data['vectors'].shape} do not match the metadata ({meta['count']}, {meta['dim']})")
        index._vectors, index._ids = data["vectors"], data["ids"]
        index._position = {int(i): j for j, i in enumerate(index._ids.tolist())}
        return index


class HnswIndex:
    """hnswlib HNSW graph with growth, similarities out, save/load checks and a lock.

    Args:
        dim: vector size. space: ``cosine`` | ``ip`` | ``l2``.
        M: graph degree (16: a good default for 100-1000-d embeddings).
        ef_construction: build-time beam (200).
        ef: query-time beam (raised to k when smaller); recall rises with it.
        initial_capacity: grows by doubling beyond this.
        num_threads: hnswlib threads for add/search (-1: all cores).
    hnswlib is not safe when one thread adds while another searches, so every call holds a lock.
    """

    def __init__(self, dim: int, space: str = "cosine", M: int = 16, ef_construction: int = 200, ef: int = 64,
                 initial_capacity: int = 1024, num_threads: int = -1, seed: int = 0) -> None:
        import hnswlib

        if space not in SPACES:
            raise ValueError(f"space must be one of {SPACES}, got {space!r}")
        if dim <= 0 or M <= 1 or ef_construction <= 0 or ef <= 0:
            raise ValueError("dim, M, ef_construction and ef must be positive (M >= 2)")
        self.dim, self.space, self.M, self.ef_construction, self.ef = dim, space, M, ef_construction, ef
        self.num_threads = num_threads
        self._lock = threading.RLock()
        self._index = hnswlib.Index(space=space, dim=dim)
        self._index.init_index(max_elements=max(1, initial_capacity), ef_construction=ef_construction, M=M, random_seed=seed)
        self._index.set_ef(ef)
        self._index.set_num_threads(num_threads if num_threads > 0 else os.cpu_count() or 1)

    def __len__(self) -> int:
        return int(self._index.get_current_count())

    def set_num_threads(self, num_threads: int) -> None:
        """hnswlib threads for later adds / searches (-1: all cores)."""
        with self._lock:
            self.num_threads = num_threads
            self._index.set_num_threads(num_threads if num_threads > 0 else os.cpu_count() or 1)

    def add(self, vectors, ids) -> None:
        vectors = _check_vectors(vectors, self.dim, "vectors")
        ids = _check_ids(ids, len(vectors))
        with self._lock:
            needed = len(self) + len(ids)
            capacity = self._index.get_max_elements()
            if needed > capacity:
                self._index.resize_index(max(needed, 2 * capacity))
            self._index.add_items(vectors, ids, replace_deleted=False)

    def search(self, queries, k: int) -> tuple[np.ndarray, np.ndarray]:
        queries = _check_vectors(queries, self.dim, "queries")
        with self._lock:
            if len(self) == 0:
                raise ValueError("the index is empty: add vectors before searching")
            k = min(int(k), len(self))
            self._index.set_ef(max(self.ef, k))
            labels, distances = self._index.knn_query(queries, k=k)
        distances = distances.astype(np.float32)
        sims = -distances if self.space == "l2" else 1.0 - distances
        return labels.astype(np.int64), sims

    def save(self, path: str | Path) -> None:
        """Write ``path.bin`` (the graph) and ``path.json`` (dim, space, count, byte size)."""
        from multicl.utils.io import atomic_write_json

        path = Path(path)
        graph = path.with_suffix(".bin")
        tmp = graph.with_name(f".{graph.name}.tmp")
        with self._lock:
            self._index.save_index(str(tmp))
            count = len(self)
        os.replace(tmp, graph)
        atomic_write_json(path.with_suffix(".json"), {
            "kind": "hnsw", "dim": self.dim, "space": self.space, "count": count, "M": self.M,
            "ef_construction": self.ef_construction, "ef": self.ef, "bytes": graph.stat().st_size,
        })

    @classmethod
    def load(cls, path: str | Path, dim: int | None = None, space: str | None = None) -> "HnswIndex":
        """Load and check: a truncated graph file, or a dim/space other than the caller expects,
        is an error that says which."""
        path = Path(path)
        meta = _read_meta(path, "hnsw")
        if dim is not None and dim != meta["dim"]:
            raise ValueError(f"{path}: the index holds dim={meta['dim']} vectors, expected dim={dim}")
        if space is not None and space != meta["space"]:
            raise ValueError(f"{path}: the index uses space={meta['space']!r}, expected {space!r}")
        graph = path.with_suffix(".bin")
        if not graph.exists():
            raise FileNotFoundError(f"{graph} is missing (the .json metadata exists)")
        if graph.stat().st_size != meta["bytes"]:
            raise ValueError(f"{graph} has {graph.stat().st_size} bytes, {meta['bytes']} expected: truncated or overwritten")
        index = cls(meta["dim"], meta["space"], M=meta["M"], ef_construction=meta["ef_construction"], ef=meta["ef"], initial_capacity=1)
        index._index.load_index(str(graph), max_elements=max(meta["count"], 1))
        index._index.set_ef(meta["ef"])
        if len(index) != meta["count"]:
            raise ValueError(f"{graph} holds {len(index)} vectors, the metadata says {meta['count']}")
        return index


def _read_meta(path: Path, kind: str) -> dict:
    meta_path = path.with_suffix(".json")
    if not meta_path.exists():
        raise FileNotFoundError(f"index metadata {meta_path} not found")
    meta = json.loads(meta_path.read_text())
    if meta.get("kind") != kind:
        raise ValueError(f"{meta_path} describes a {meta.get('kind')!r} index, not {kind!r}")
    return meta
