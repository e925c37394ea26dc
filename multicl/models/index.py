"""EmbeddingIndex: a model's corpus, searchable; exact below the measured crossover, hnswlib above.

``model.index(corpus, ids)`` embeds raw inputs (or takes the model's embeddings), and
``index.search(queries, k) -> (ids (Q, k), scores (Q, k))`` returns the caller's ids and cosine
similarities, best first. ``backend="auto"`` searches exactly (chunked matmul top-k) up to
:data:`EXACT_MAX_SIZE` distinct vectors and moves to an hnswlib graph when the corpus grows past
it: the crossover measured on CPU (README: below ~20k vectors exact search beats graph build +
query).

Identical vectors are stored once. Real corpora repeat themselves (KDD99's 494,021 records hold
145,584 distinct rows, one of them 193,081 times): copies at distance 0 fill an HNSW graph's
neighbour lists and break it into cliques (recall@10 0.97 -> 0.74, see
:mod:`multicl.negatives.dedup`) and make exact search score every copy. So the backend holds
each distinct vector once, a search runs over distinct vectors (and distinct queries: a repeated
query is searched once), and every hit expands to all the ids that share the vector, in id order
(ints before strings), with the same score. The results are those of a search over every copy
with ties between copies ordered by id. ``add`` with a known id moves that id to its new vector;
a vector no id uses any more stays in the backend unseen until a new distinct vector takes its
slot. Vectors are compared bit for bit (``-0.0`` and ``0.0`` are one value).

A saved index is a folder (``index.json``, ``ids.json``, ``dedup.npz``, the backend's files) that
records the fingerprint of the model that built it; :meth:`EmbeddingIndex.load` with ``model=``
refuses an index of another model, and the backends' checks (truncated graph, dimension, space)
apply. Folders of the first format (one backend row per id, no ``dedup.npz``) still load.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from multicl.negatives.ann_index import ExactIndex, HnswIndex
from multicl.utils.io import replace_directory

EXACT_MAX_SIZE = 20_000  # measured crossover (benchmarks/mining.py, KDD99 subsets at 64-d and Leipzig at 384-d)
INDEX_FILE = "index.json"
DEDUP_FILE = "dedup.npz"
FORMAT = 2
BACKENDS = ("auto", "exact", "hnsw")
_HASH_CHUNK = 1 << 16  # rows hashed at a time (bounds the uint64 temporary to 64k x dim words)


def is_embeddings(x: Any) -> bool:
    """A 2-D float numpy array or torch tensor is read as embeddings; anything else as raw inputs."""
    try:
        import torch

        if isinstance(x, torch.Tensor):
            return x.ndim == 2 and x.is_floating_point()
    except ImportError:  # pragma: no cover
        pass
    return isinstance(x, np.ndarray) and x.ndim == 2 and x.dtype.kind == "f"


# -- identical rows --------------------------------------------------------------------------------
def _canonical(x: np.ndarray) -> np.ndarray:
    """C-contiguous float32 with ``-0.0`` folded into ``0.0``, so equal vectors have equal bytes."""
    return np.ascontiguousarray(x, dtype=np.float32) + np.float32(0.0)


def group_rows(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(first (G,), inverse (N,))``: identical rows of ``x`` (compared bit for bit) grouped, groups
    in order of first appearance, ``x[first[inverse]] == x``.

    A 64-bit hash of every row (one pass of vectorised arithmetic), ``np.unique`` of the hashes,
    then a check that every row equals its group's first row; should two different rows share a
    hash, the rows themselves are sorted instead (exact either way)."""
    n = len(x)
    if n == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    words = np.ascontiguousarray(x).view(np.uint32).reshape(n, -1)
    mult = np.random.default_rng(0x5EED).integers(1, 2**63, size=words.shape[1], dtype=np.uint64) | np.uint64(1)
    hashes = np.empty(n, np.uint64)
    with np.errstate(over="ignore"):
        for start in range(0, n, _HASH_CHUNK):
            hashes[start : start + _HASH_CHUNK] = (words[start : start + _HASH_CHUNK].astype(np.uint64) * mult).sum(1, dtype=np.uint64)
    _, first, inverse = np.unique(hashes, return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    if not np.array_equal(words, words[first[inverse]]):  # a hash collision between different rows
        rows = words.view(np.dtype((np.void, words.shape[1] * 4))).reshape(-1)
        _, first, inverse = np.unique(rows, return_index=True, return_inverse=True)
        inverse = inverse.reshape(-1)
    order = np.argsort(first, kind="stable")  # groups in order of first appearance
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return first[order].astype(np.int64), rank[inverse].astype(np.int64)


def _digests(x: np.ndarray) -> list[bytes]:
    """128-bit BLAKE2b of every (canonical float32) row: the key a distinct vector is known by."""
    return [hashlib.blake2b(row.tobytes(), digest_size=16).digest() for row in x]


def _id_key(i: Any) -> tuple:
    """Order of ids sharing one vector: ints (numerically), then strings, then anything else."""
    if isinstance(i, (int, np.integer)) and not isinstance(i, bool):
        return (0, int(i), "")
    return (1, 0, i) if isinstance(i, str) else (2, 0, repr(i))


class EmbeddingIndex:
    """Args:
        dim: embedding size. model_fingerprint / modality: of the model whose embeddings it holds.
        backend: ``auto`` | ``exact`` | ``hnsw``. exact_max_size: the auto crossover (distinct vectors).
        M, ef_construction, ef: hnswlib settings (recall rises with ``ef``). num_threads: hnswlib
        threads (-1: all cores).
    """

    def __init__(self, dim: int, model_fingerprint: str | None = None, modality: str | None = None, space: str = "cosine",
                 backend: str = "auto", exact_max_size: int = EXACT_MAX_SIZE, M: int = 16, ef_construction: int = 100,
                 ef: int = 64, num_threads: int = -1, seed: int = 0) -> None:
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
        self.dim, self.space, self.backend = int(dim), space, backend
        self.model_fingerprint, self.modality = model_fingerprint, modality
        self.exact_max_size = int(exact_max_size)
        self.hnsw_args = {"M": M, "ef_construction": ef_construction, "ef": ef, "num_threads": num_threads, "seed": seed}
        self._engine: ExactIndex | HnswIndex = HnswIndex(self.dim, space, **self.hnsw_args) if backend == "hnsw" else ExactIndex(self.dim, space)
        self._ids: list[Any] = []  # row -> the caller's id
        self._int_ids = True  # every id is an int (search returns an int64 array)
        self._row_of: dict[Any, int] = {}  # id -> row
        self._unique_of: list[int] = []  # row -> distinct vector (the backend's id)
        self._keys: list[bytes] = []  # distinct vector -> digest of its bytes
        self._unique_of_key: dict[bytes, int] = {}
        self._counts: list[int] = []  # distinct vector -> how many rows use it
        self._unused: set[int] = set()  # distinct vectors no row uses (their backend slots are reused)
        self._tables: dict[str, np.ndarray] | None = None  # search-side arrays, rebuilt after an add
        self.model = None  # the EmbeddingModel that embeds raw inputs (set by model.index / load(model=))

    def __len__(self) -> int:
        return len(self._ids)

    @property
    def distinct(self) -> int:
        """How many distinct vectors the ids use (what the backend searches, less unused slots)."""
        return len(self._keys) - len(self._unused)

    @property
    def kind(self) -> str:
        """The engine in use now: ``exact`` or ``hnsw``."""
        return "hnsw" if isinstance(self._engine, HnswIndex) else "exact"

    def __repr__(self) -> str:
        return f"EmbeddingIndex({len(self)} vectors, {self.distinct} distinct, dim={self.dim}, {self.kind}, modality={self.modality})"

    # -- inputs ----------------------------------------------------------------------------------
    def _vectors(self, items: Any, what: str, batch_size: int) -> np.ndarray:
        if is_embeddings(items):
            x = np.asarray(items.detach().cpu().numpy() if hasattr(items, "detach") else items, dtype=np.float32)
            if x.shape[1] != self.dim:
                raise ValueError(f"{what} are {x.shape[1]}-d embeddings, this index holds {self.dim}-d vectors: pass raw inputs, "
                                 f"or embeddings of the model that built the index (a series model takes a list of (T, C) arrays)")
        elif self.model is None:
            raise ValueError(f"{what} are raw inputs, but this index has no model to embed them: load it with "
                             f"EmbeddingIndex.load(path, model=model) (or model.load_index(path)), or pass embeddings")
        else:
            x = self.model.encode(items, batch_size=batch_size)
        if not np.isfinite(x).all():
            raise ValueError(f"{what} contain NaN or inf")
        return _canonical(x)

    # -- add / search ----------------------------------------------------------------------------
    def add(self, items: Any, ids: Sequence[Any] | None = None, batch_size: int = 64) -> None:
        """Add raw inputs or embeddings. ``ids`` (ints or strings; default: the next row numbers);
        an id already present has its vector replaced."""
        vectors = self._vectors(items, "corpus items", batch_size)
        generated = ids is None
        if generated:
            ids = range(len(self), len(self) + len(vectors))
        else:
            ids = [i.item() if isinstance(i, np.generic) else i for i in ids]
            if len(ids) != len(vectors):
                raise ValueError(f"got {len(ids)} ids for {len(vectors)} corpus items: give one id per item")
            if len(set(ids)) != len(ids):
                raise ValueError("ids repeat within one add() call: every item needs its own id")
        if not len(vectors):
            return
        first, inverse = group_rows(vectors)
        keys = _digests(vectors[first])
        # 1. rows: new ids get a row; a known id leaves its old vector (which may become unused)
        first_corpus = not self._ids
        if first_corpus:  # the common case: every id is new, no per-id lookups
            rows = list(range(len(ids)))
            self._ids = list(ids)
            self._row_of = dict(zip(self._ids, rows))
            self._unique_of = [-1] * len(ids)
        else:
            rows = []
            for i in ids:
                row = self._row_of.get(i)
                if row is None:
                    row = self._row_of[i] = len(self._ids)
                    self._ids.append(i)
                    self._unique_of.append(-1)
                else:
                    self._release(self._unique_of[row])
                rows.append(row)
        self._int_ids = self._int_ids and (generated or all(isinstance(i, int) and not isinstance(i, bool) for i in ids))
        # 2. distinct vectors: a known one is reused (an unused one comes back), a new one takes an unused slot or a new one
        target = [self._unique_of_key.get(key, -1) for key in keys]
        self._unused.difference_update(u for u in target if u >= 0)
        free = sorted(self._unused, reverse=True)  # lowest slot first
        new_groups = [g for g, u in enumerate(target) if u < 0]
        slots = []
        for g in new_groups:
            if free:
                u = free.pop()
                self._unused.discard(u)
                del self._unique_of_key[self._keys[u]]
                self._keys[u] = keys[g]
            else:
                u = len(self._keys)
                self._keys.append(keys[g])
                self._counts.append(0)
            self._unique_of_key[keys[g]] = u
            target[g] = u
            slots.append(u)
        target = np.asarray(target, dtype=np.int64)
        if first_corpus:  # rows are 0..n-1 in order
            self._unique_of = target[inverse].tolist()
        else:
            for row, u in zip(rows, target[inverse].tolist()):
                self._unique_of[row] = u
        for u, n in zip(target.tolist(), np.bincount(inverse, minlength=len(target)).tolist()):
            self._counts[u] += n
        self._tables = None
        # 3. the backend: the new distinct vectors (a reused slot has its vector replaced)
        if self.backend == "auto" and self.kind == "exact" and len(self._keys) > self.exact_max_size:
            self._move_to_hnsw(len(self._keys))
        if slots:
            self._engine.add(vectors[first[new_groups]], np.asarray(slots, dtype=np.int64))

    def _release(self, u: int) -> None:
        self._counts[u] -= 1
        if self._counts[u] == 0:
            self._unused.add(u)

    def _move_to_hnsw(self, capacity: int) -> None:
        exact = self._engine
        engine = HnswIndex(self.dim, self.space, initial_capacity=max(capacity, 1024), **self.hnsw_args)
        if len(exact):
            engine.add(exact._vectors, exact._ids)
        self._engine = engine

    def _search_tables(self) -> dict[str, np.ndarray]:
        """Rows grouped by distinct vector, in id order within a group: ``order`` (N,), ``starts`` /
        ``counts`` (U,), and the ids as an array."""
        if self._tables is None:
            unique_of = np.asarray(self._unique_of, dtype=np.int64)
            if self._int_ids:
                ids = np.asarray(self._ids, dtype=np.int64)
                id_rank = ids
            else:
                ids = np.empty(len(self._ids), dtype=object)
                ids[:] = self._ids
                id_rank = np.empty(len(ids), dtype=np.int64)
                id_rank[sorted(range(len(ids)), key=lambda r: _id_key(self._ids[r]))] = np.arange(len(ids))
            order = np.lexsort((id_rank, unique_of))
            counts = np.bincount(unique_of, minlength=len(self._keys))
            self._tables = {"ids": ids, "order": order, "counts": counts, "starts": np.cumsum(counts) - counts}
        return self._tables

    def search(self, queries: Any, k: int = 10, batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` of each query: ``(ids (Q, k), scores (Q, k))``, best first; ``k`` is capped
        at the corpus size. Queries are raw inputs of the model's modality or embeddings. Ids that
        share one vector come out together in id order, with the same score."""
        if len(self) == 0:
            raise ValueError("the index is empty: add a corpus first (index.add(items) or model.index(corpus))")
        if k <= 0:
            raise ValueError(f"k must be positive, got {k}")
        vectors = self._vectors(queries, "queries", batch_size)
        k = min(int(k), len(self))
        first, inverse = group_rows(vectors)  # a repeated query is searched once
        wanted = min(k + len(self._unused), len(self._engine))  # unused slots may take places in the backend's top list
        unique_rows, unique_scores = self._engine.search(vectors[first], wanted)
        rows, scores = self._expand(unique_rows, unique_scores, k)
        tables = self._search_tables()
        ids = tables["ids"][rows.clip(min=0)]
        if (rows < 0).any():  # the backend found fewer than k ids (an approximate graph, unused slots)
            ids[rows < 0] = -1 if ids.dtype != object else None
        return ids[inverse], scores[inverse]

    def _expand(self, unique_rows: np.ndarray, unique_scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Best-first distinct vectors (Q, m) -> the first ``k`` rows they stand for (Q, k); -1 / -inf
        where fewer than ``k`` rows exist."""
        tables = self._search_tables()
        q, m = unique_rows.shape
        valid = unique_rows >= 0
        safe = np.where(valid, unique_rows, 0)
        taken = np.where(valid, np.minimum(tables["counts"][safe], k), 0)  # rows used from each hit
        cum = np.cumsum(taken, axis=1)  # (Q, m), non-decreasing along a row, at most m * k
        stride = m * k + 1
        offsets = np.arange(q, dtype=np.int64)[:, None] * stride
        slots = np.arange(k, dtype=np.int64)[None, :]
        group = np.searchsorted((cum + offsets).ravel(), (slots + offsets).ravel(), side="right").reshape(q, k) - np.arange(q)[:, None] * m
        filled = group < m
        group = np.minimum(group, m - 1)
        before = np.where(group > 0, np.take_along_axis(cum, np.maximum(group - 1, 0), axis=1), 0)
        u = np.take_along_axis(safe, group, axis=1)
        position = tables["starts"][u] + slots - before
        rows = np.where(filled, tables["order"][np.minimum(position, len(tables["order"]) - 1)], -1)
        scores = np.where(filled, np.take_along_axis(unique_scores, group, axis=1), -np.inf).astype(np.float32)
        return rows, scores

    # -- persistence -----------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write the index folder atomically (a failure leaves ``path`` as it was)."""
        def write(folder: Path) -> None:
            self._engine.save(folder / self.kind)
            (folder / "ids.json").write_text(json.dumps(self._ids))
            keys = np.frombuffer(b"".join(self._keys), dtype=np.uint8).reshape(len(self._keys), 16)
            np.savez(folder / DEDUP_FILE, unique_of=np.asarray(self._unique_of, dtype=np.int64), keys=keys)
            (folder / INDEX_FILE).write_text(json.dumps({
                "format": FORMAT, "kind": self.kind, "backend": self.backend, "dim": self.dim, "space": self.space, "count": len(self),
                "distinct_slots": len(self._keys), "model_fingerprint": self.model_fingerprint, "modality": self.modality,
                "exact_max_size": self.exact_max_size, "hnsw": self.hnsw_args}, indent=2) + "\n")

        return replace_directory(write, Path(path))

    @classmethod
    def load(cls, path: str | Path, model: Any = None) -> "EmbeddingIndex":
        """Load a saved index; with ``model``, check it is the model that built it (then raw
        queries work). Truncated or mismatched files are errors that say which."""
        path = Path(path)
        meta_path = path / INDEX_FILE
        if not meta_path.exists():
            raise FileNotFoundError(f"{path} is not a saved index (no {INDEX_FILE}); save one with index.save(path)")
        meta = json.loads(meta_path.read_text())
        if model is not None:
            if model.fingerprint != meta["model_fingerprint"]:
                raise ValueError(
                    f"{path} was built by another model ({meta['modality']}, dim {meta['dim']}, fingerprint "
                    f"{str(meta['model_fingerprint'])[:12]}) than this one ({model.modality}, dim {model.embed_dim}, "
                    f"fingerprint {model.fingerprint[:12]}): its vectors are not comparable with this model's. Rebuild it "
                    f"with model.index(corpus), or load the model that built it")
        index = cls(meta["dim"], meta["model_fingerprint"], meta["modality"], meta["space"], meta["backend"], meta["exact_max_size"],
                    **meta["hnsw"])
        if meta["kind"] == "hnsw":
            index._engine = HnswIndex.load(path / "hnsw", dim=meta["dim"], space=meta["space"])
            index._engine.num_threads = meta["hnsw"]["num_threads"]
        else:
            engine = ExactIndex.load(path / "exact")
            if engine.dim != meta["dim"] or engine.space != meta["space"]:
                raise ValueError(f"{path}: the stored vectors are dim={engine.dim}, space={engine.space!r}; {INDEX_FILE} says "
                                 f"dim={meta['dim']}, space={meta['space']!r}: the folder was mixed up; rebuild the index")
            index._engine = engine
        ids = json.loads((path / "ids.json").read_text())
        if len(ids) != meta["count"]:
            raise ValueError(f"{path}: {len(ids)} ids, {meta['count']} expected: truncated or overwritten; rebuild the index")
        if meta.get("format", 1) >= 2:
            if not (path / DEDUP_FILE).exists():
                raise FileNotFoundError(f"{path}: {DEDUP_FILE} (which id uses which stored vector) is missing; rebuild the index")
            with np.load(path / DEDUP_FILE) as data:
                unique_of, keys = data["unique_of"].astype(np.int64), data["keys"]
            slots = meta["distinct_slots"]
            if len(unique_of) != len(ids) or keys.shape != (slots, 16) or len(index._engine) != slots or \
                    (len(unique_of) and (unique_of.min() < 0 or unique_of.max() >= slots)):
                raise ValueError(f"{path}: {len(ids)} ids, {len(unique_of)} id-to-vector entries, {len(keys)} vector keys and "
                                 f"{len(index._engine)} stored vectors, {slots} distinct vectors expected: truncated or "
                                 f"overwritten; rebuild the index")
            index._keys = [bytes(row) for row in keys]
        else:  # format 1: one backend row per id, keyed by the vectors as the backend stores them
            if len(index._engine) != len(ids):
                raise ValueError(f"{path}: {len(ids)} ids and {len(index._engine)} vectors, {meta['count']} expected: "
                                 f"truncated or overwritten; rebuild the index")
            unique_of = np.arange(len(ids), dtype=np.int64)
            stored = index._engine._vectors if isinstance(index._engine, ExactIndex) else \
                np.asarray(index._engine._index.get_items(list(range(len(ids)))), dtype=np.float32).reshape(len(ids), -1)
            index._keys = _digests(_canonical(stored))
        index._ids = ids
        index._int_ids = all(isinstance(i, int) and not isinstance(i, bool) for i in ids)
        index._row_of = {i: r for r, i in enumerate(ids)}
        index._unique_of = unique_of.tolist()
        index._unique_of_key = {key: u for u, key in enumerate(index._keys)}
        index._counts = np.bincount(unique_of, minlength=len(index._keys)).tolist()
        index._unused = {u for u, n in enumerate(index._counts) if n == 0}
        index.model = model
        return index
