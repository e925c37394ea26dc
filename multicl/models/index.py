"""EmbeddingIndex: a model's corpus, searchable; exact below the measured crossover, hnswlib above.

``model.index(corpus, ids)`` embeds raw inputs (or takes the model's embeddings), and
``index.search(queries, k) -> (ids (Q, k), scores (Q, k))`` returns the caller's ids and cosine
similarities, best first. ``backend="auto"`` searches exactly (chunked matmul top-k) up to
:data:`EXACT_MAX_SIZE` vectors and moves to an hnswlib graph when the corpus grows past it: the
crossover measured on CPU (README: below ~20k vectors exact search beats graph build + query).

A saved index is a folder (``index.json``, ``ids.json``, the backend's files) that records the
fingerprint of the model that built it; :meth:`EmbeddingIndex.load` with ``model=`` refuses an
index of another model, and the backends' checks (truncated graph, dimension, space) apply.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from multicl.negatives.ann_index import ExactIndex, HnswIndex
from multicl.utils.io import replace_directory

EXACT_MAX_SIZE = 20_000  # measured crossover (benchmarks/mining.py, KDD99 subsets at 64-d and Leipzig at 384-d)
INDEX_FILE = "index.json"
BACKENDS = ("auto", "exact", "hnsw")


def is_embeddings(x: Any) -> bool:
    """A 2-D float numpy array or torch tensor is read as embeddings; anything else as raw inputs."""
    try:
        import torch

        if isinstance(x, torch.Tensor):
            return x.ndim == 2 and x.is_floating_point()
    except ImportError:  # pragma: no cover
        pass
    return isinstance(x, np.ndarray) and x.ndim == 2 and x.dtype.kind == "f"


class EmbeddingIndex:
    """Args:
        dim: embedding size. model_fingerprint / modality: of the model whose embeddings it holds.
        backend: ``auto`` | ``exact`` | ``hnsw``. exact_max_size: the auto crossover.
        M, ef_construction, ef: hnswlib settings (recall rises with ``ef``).
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
        self._row_of: dict[Any, int] = {}
        self.model = None  # the EmbeddingModel that embeds raw inputs (set by model.index / load(model=))

    def __len__(self) -> int:
        return len(self._ids)

    @property
    def kind(self) -> str:
        """The engine in use now: ``exact`` or ``hnsw``."""
        return "hnsw" if isinstance(self._engine, HnswIndex) else "exact"

    def __repr__(self) -> str:
        return f"EmbeddingIndex({len(self)} vectors, dim={self.dim}, {self.kind}, modality={self.modality})"

    # -- inputs ----------------------------------------------------------------------------------
    def _vectors(self, items: Any, what: str, batch_size: int) -> np.ndarray:
        if is_embeddings(items):
            x = np.asarray(items.detach().cpu().numpy() if hasattr(items, "detach") else items, dtype=np.float32)
            if x.shape[1] != self.dim:
                raise ValueError(f"{what} are {x.shape[1]}-d embeddings, this index holds {self.dim}-d vectors: pass raw inputs, "
                                 f"or embeddings of the model that built the index (a series model takes a list of (T, C) arrays)")
            return x
        if self.model is None:
            raise ValueError(f"{what} are raw inputs, but this index has no model to embed them: load it with "
                             f"EmbeddingIndex.load(path, model=model) (or model.load_index(path)), or pass embeddings")
        return self.model.encode(items, batch_size=batch_size)

    # -- add / search ----------------------------------------------------------------------------
    def add(self, items: Any, ids: Sequence[Any] | None = None, batch_size: int = 64) -> None:
        """Add raw inputs or embeddings. ``ids`` (ints or strings; default: the next row numbers);
        an id already present has its vector replaced."""
        vectors = self._vectors(items, "corpus items", batch_size)
        if ids is None:
            ids = list(range(len(self), len(self) + len(vectors)))
        ids = [i.item() if isinstance(i, np.generic) else i for i in ids]
        if len(ids) != len(vectors):
            raise ValueError(f"got {len(ids)} ids for {len(vectors)} corpus items: give one id per item")
        if len(set(ids)) != len(ids):
            raise ValueError("ids repeat within one add() call: every item needs its own id")
        rows = []
        for i in ids:
            if i not in self._row_of:
                self._row_of[i] = len(self._ids)
                self._ids.append(i)
            rows.append(self._row_of[i])
        if self.backend == "auto" and self.kind == "exact" and len(self._ids) > self.exact_max_size:
            self._move_to_hnsw()
        if len(vectors):
            self._engine.add(vectors, np.asarray(rows, dtype=np.int64))

    def _move_to_hnsw(self) -> None:
        exact = self._engine
        engine = HnswIndex(self.dim, self.space, initial_capacity=max(len(self._ids), 1024), **self.hnsw_args)
        if len(exact):
            engine.add(exact._vectors, exact._ids)
        self._engine = engine

    def search(self, queries: Any, k: int = 10, batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` of each query: ``(ids (Q, k), scores (Q, k))``, best first; ``k`` is capped
        at the corpus size. Queries are raw inputs of the model's modality or embeddings."""
        if len(self) == 0:
            raise ValueError("the index is empty: add a corpus first (index.add(items) or model.index(corpus))")
        if k <= 0:
            raise ValueError(f"k must be positive, got {k}")
        vectors = self._vectors(queries, "queries", batch_size)
        rows, scores = self._engine.search(vectors, min(int(k), len(self)))
        ids = np.asarray(self._ids, dtype=object if not all(isinstance(i, (int, np.integer)) for i in self._ids) else np.int64)
        return ids[rows], scores

    # -- persistence -----------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write the index folder atomically (a failure leaves ``path`` as it was)."""
        def write(folder: Path) -> None:
            self._engine.save(folder / self.kind)
            (folder / "ids.json").write_text(json.dumps(self._ids))
            (folder / INDEX_FILE).write_text(json.dumps({
                "format": 1, "kind": self.kind, "backend": self.backend, "dim": self.dim, "space": self.space, "count": len(self),
                "model_fingerprint": self.model_fingerprint, "modality": self.modality, "exact_max_size": self.exact_max_size,
                "hnsw": self.hnsw_args}, indent=2) + "\n")

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
        if len(ids) != meta["count"] or len(index._engine) != meta["count"]:
            raise ValueError(f"{path}: {len(ids)} ids and {len(index._engine)} vectors, {meta['count']} expected: "
                             f"truncated or overwritten; rebuild the index")
        index._ids = ids
        index._row_of = {i: r for r, i in enumerate(ids)}
        index.model = model
        return index
