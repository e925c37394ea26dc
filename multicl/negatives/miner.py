"""Refreshing hard-negative miner: ANN/exact search over the corpus, false negatives filtered.

Every ``refresh_every`` steps the miner embeds the whole corpus with the current encoder (no
gradient, eval mode, under the trainer's autocast), searches the top-K neighbours of every
query, removes false negatives through the shared :class:`FalseNegativePolicy` (same instance,
same group/label, temporal window, NV-Retriever positive-aware thresholds), and keeps the
survivors ranked in ``rank_window`` as each query's candidate list. At every training step
``mined_rows`` samples ``num_negatives`` per anchor from those lists; the
:class:`~multicl.negatives.sources.mined.MinedNegatives` source hands them to the learner,
whose candidate tower embeds them *with* gradient, and the objective treats them as extra
candidates for every anchor. The refresh is driven by the trainer's ``before_step`` hook.

Queries are found by the anchors' ``instance_id``, the dataset index every adapter puts in its
metadata. The corpus holds raw inputs that ``adapter.prepare_inputs`` understands (texts,
feature rows, waveforms...), so the miner works for any modality.

The search is chosen by measurement (``benchmarks/mining.py``): exact chunked matmul top-k on
the embedding device below ``exact_max_size`` vectors on CPU (and always on CUDA), hnswlib
above it (:mod:`multicl.negatives.search`). The candidate lists, step and refresh count are in
``state_dict()``: the trainer checkpoints them, so a resumed run samples exactly the negatives
the uninterrupted run would have.
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from multicl.modalities.base import Adapter
from multicl.negatives.dedup import representatives, unique_vectors
from multicl.negatives.masks import FalseNegativePolicy
from multicl.negatives.search import INDEX_KINDS, NeighbourSearch
from multicl.types.batch import RoleBatch
from multicl.utils.distributed import all_gather_rows, is_rank_zero, max_over_ranks, shard_bounds

logger = logging.getLogger(__name__)

@dataclass(frozen=True)
class MinerConfig:
    """How many, from where, and how often.

    Args:
        num_negatives: n hard negatives sampled per anchor per step.
        top_k: neighbours retrieved per query at each refresh (before filtering).
        rank_window: ``(lo, hi)``: sample among the surviving candidates ranked ``lo <= r < hi``
            (after false negatives are removed); ``lo > 0`` skips the very closest, where
            unlabelled duplicates and paraphrases hide.
        sampling: ``random`` (uniform in the window, a fresh draw each step) or ``top``.
        refresh_every: re-embed and re-mine every this many optimizer steps (0: mine once).
        index: ``exact``, ``hnsw``, or ``auto`` (exact on CUDA or up to ``exact_max_size``).
        exact_max_size: corpus size where hnswlib starts to beat exact search on CPU
            (measured on 2 cores in benchmarks/mining.py; see the README table).
        update_in_place: on refresh, re-add moved vectors to the existing hnswlib graph
            instead of rebuilding it (slower on this machine: see the README; needs
            ``deduplicate=False``, since the set of unique vectors changes between refreshes).
        deduplicate: search over unique embeddings (cheaper, and stable on corpora with
            repeated rows, see :mod:`multicl.negatives.dedup`); each distinct vector is a
            candidate once (its first row). With the training set as corpus, copies of the
            anchor are dropped as false negatives (rule ``duplicate``): identical inputs cannot
            be told apart.
        embed_batch_size: rows per forward pass when embedding the corpus.
        hnsw_M / hnsw_ef_construction / hnsw_ef: hnswlib graph degree and beams.
        seed: seeds the per-step sampling (reproducible and identical after a resume).
    """

    num_negatives: int = 1
    top_k: int = 64
    rank_window: tuple[int, int] = (0, 32)
    sampling: str = "random"
    refresh_every: int = 100
    index: str = "auto"
    exact_max_size: int = 20_000
    update_in_place: bool = False
    deduplicate: bool = True
    embed_batch_size: int = 512
    hnsw_M: int = 16
    hnsw_ef_construction: int = 100
    hnsw_ef: int = 64
    seed: int = 0

    def __post_init__(self) -> None:
        lo, hi = self.rank_window
        if self.num_negatives < 1 or self.top_k < 1:
            raise ValueError("num_negatives and top_k must be >= 1")
        if not 0 <= lo < hi:
            raise ValueError(f"rank_window must satisfy 0 <= lo < hi, got {self.rank_window}")
        if self.sampling not in ("random", "top"):
            raise ValueError(f"sampling must be 'random' or 'top', got {self.sampling!r}")
        if self.index not in INDEX_KINDS:
            raise ValueError(f"index must be one of {INDEX_KINDS}, got {self.index!r}")
        if self.refresh_every < 0 or self.embed_batch_size < 1:
            raise ValueError("refresh_every must be >= 0 and embed_batch_size >= 1")


class HardNegativeMiner:
    """Mine hard negatives for training anchors from a corpus, refreshed as the encoder moves.

    Args:
        corpus: raw candidate inputs (a list, or an array indexed by row).
        adapter: gives ``prepare_inputs(raw) -> encoder inputs`` (and optionally ``pad_values``).
        corpus_meta: per-candidate metadata for the policy, each an (len(corpus),) array.
            Default: ``instance_id = arange`` (candidate i is training sample i).
        queries: raw anchor inputs, one per training sample (dataset index = instance_id).
        query_adapter: prepares the queries when they are another modality than the corpus
            (two towers: audio queries, text documents); default ``adapter``.
            ``None``: the corpus is the training set, sample i's query is ``corpus[i]``.
        query_meta: metadata of the queries (default: ``corpus_meta`` when ``queries`` is None,
            else ``instance_id = arange``).
        positive_ids: corpus row of each query's positive: never mined, and its similarity
            anchors the positive-aware thresholds. Default with ``queries=None``: the query
            itself (thresholds then drop near-duplicates of the anchor).
        policy: the false-negative policy (use the learner's, so all negatives obey one rule).
        space: ``cosine`` (embeddings L2-normalised) or ``ip``.
        log_dir: where ``miner_refreshes.jsonl`` (one record per refresh) is appended.
    After each refresh ``last_refresh`` holds its statistics; after each ``augment``,
    ``last_stats`` holds per-step figures for the training log.
    """

    def __init__(
        self,
        corpus: Sequence[Any],
        adapter: Any,
        corpus_meta: dict[str, Any] | None = None,
        queries: Sequence[Any] | None = None,
        query_adapter: Adapter | None = None,
        query_meta: dict[str, Any] | None = None,
        positive_ids: Sequence[int] | None = None,
        policy: FalseNegativePolicy | None = None,
        config: MinerConfig | None = None,
        space: str = "cosine",
        log_dir: str | Path | None = None,
    ) -> None:
        if len(corpus) == 0:
            raise ValueError("the mining corpus is empty")
        if space not in ("cosine", "ip"):
            raise ValueError(f"space must be 'cosine' or 'ip', got {space!r}")
        self.corpus, self.adapter, self.queries = corpus, adapter, queries
        self.query_adapter = query_adapter if query_adapter is not None else adapter
        self.policy = policy or FalseNegativePolicy()
        self.config = config or MinerConfig()
        self.space = space
        self.log_dir = Path(log_dir) if log_dir is not None else None
        n_corpus = len(corpus)
        n_queries = n_corpus if queries is None else len(queries)
        self.corpus_meta = _meta_tensors(corpus_meta, n_corpus, "corpus_meta")
        if query_meta is None and queries is None:
            self.query_meta = self.corpus_meta
        else:
            self.query_meta = _meta_tensors(query_meta, n_queries, "query_meta")
        if positive_ids is None and queries is None:
            positive_ids = np.arange(n_corpus)
        self.positive_ids = None if positive_ids is None else torch.as_tensor(np.asarray(positive_ids, dtype=np.int64))
        if self.positive_ids is not None:
            if self.positive_ids.shape != (n_queries,):
                raise ValueError(f"positive_ids needs one corpus row per query ({n_queries}), got shape {tuple(self.positive_ids.shape)}")
            if (self.positive_ids < 0).any() or (self.positive_ids >= n_corpus).any():
                raise ValueError(f"positive_ids must be corpus rows in [0, {n_corpus})")
        if (self.policy.max_positive_ratio is not None or self.policy.positive_margin is not None) and self.positive_ids is None:
            raise ValueError("positive-aware thresholds need positive_ids (the corpus row of each query's positive)")
        self.num_queries = n_queries
        self.stale = True  # mine at the first step, and after a resume
        self.step = 0
        self._candidates: np.ndarray | None = None  # (Q, hi - lo) corpus rows, -1 = none
        self.search = NeighbourSearch(space, self.config.index, self.config.exact_max_size,
                                      self.config.update_in_place and not self.config.deduplicate, self.config.hnsw_M,
                                      self.config.hnsw_ef_construction, self.config.hnsw_ef, self.config.seed)
        self.last_refresh: dict[str, Any] = {}
        self.last_stats: dict[str, float] = {}
        self.refreshes = 0

    # -- schedule ------------------------------------------------------------------------------
    def after_step(self, step: int) -> None:
        """Called after each optimizer step (through its source's hook): marks a refresh as due."""
        self.step = step
        if self.config.refresh_every and step % self.config.refresh_every == 0:
            self.stale = True

    # -- refresh -------------------------------------------------------------------------------
    @torch.no_grad()
    def refresh(self, embed: Callable[[Any], torch.Tensor], device: torch.device | str = "cpu",
                embed_queries: Callable[[Any], torch.Tensor] | None = None) -> dict[str, Any]:
        """Embed the corpus with ``embed`` (and separate queries with ``embed_queries``, default
        ``embed``: the anchor tower of a two-tower model), search, filter; return the statistics."""
        device = torch.device(device)
        cfg = self.config
        start = time.perf_counter()
        corpus_z = self._embed_all(self.corpus, embed, device)
        query_z = corpus_z if self.queries is None else self._embed_all(self.queries, embed_queries or embed, device, self.query_adapter)
        embed_seconds = time.perf_counter() - start

        t = time.perf_counter()
        search_corpus, corpus_inverse = unique_vectors(corpus_z) if cfg.deduplicate else (corpus_z, None)
        if self.queries is None:
            search_queries, query_inverse = search_corpus, corpus_inverse
        else:
            search_queries, query_inverse = unique_vectors(query_z) if cfg.deduplicate else (query_z, None)
        dedup_seconds = time.perf_counter() - t
        found = self.search.search(search_queries, search_corpus, cfg.top_k)
        rows, sims, kind = found.rows, found.similarities, found.kind
        index_seconds, search_seconds = found.index_seconds, found.search_seconds
        t = time.perf_counter()
        if corpus_inverse is not None:
            # one row per distinct vector: copies would fill the list with the same content
            rows = representatives(corpus_inverse.cpu())[rows]
        if query_inverse is not None:
            rows, sims = rows[query_inverse.cpu()], sims[query_inverse.cpu()]
        stats = self._filter(rows, sims, query_z, corpus_z, None if corpus_inverse is None else corpus_inverse.cpu())
        filter_seconds = time.perf_counter() - t

        self.stale = False
        self.refreshes += 1
        self.last_refresh = {
            "step": self.step, "refresh": self.refreshes, "index": kind, "corpus_size": len(corpus_z),
            "queries": len(query_z), "unique_corpus": len(search_corpus), "unique_queries": len(search_queries),
            "embed_seconds": embed_seconds, "dedup_seconds": dedup_seconds, "index_seconds": index_seconds,
            "search_seconds": search_seconds, "filter_seconds": filter_seconds,
            "refresh_seconds": time.perf_counter() - start, **stats,
        }
        self._write_log(self.last_refresh)
        return self.last_refresh

    def _embed_all(self, raw: Sequence[Any], embed: Callable, device: torch.device, adapter: Adapter | None = None) -> torch.Tensor:
        """(len(raw), D) float32 on ``device``; sharded across ranks under torch.distributed."""
        adapter = adapter if adapter is not None else self.adapter
        lo, hi, _ = shard_bounds(len(raw))
        batch = self.config.embed_batch_size
        rows = np.arange(lo, hi)
        # similar lengths per batch: less padding (texts, clips); length 0 everywhere keeps the order
        rows = rows[np.argsort([adapter.length_of(item) for item in take_rows(raw, rows)], kind="stable")]
        chunks = []
        quiet = len(rows) < 20 * batch or not is_rank_zero()
        for s in tqdm(range(0, len(rows), batch), desc="mining: embed corpus", leave=False, disable=quiet):
            inputs = adapter.prepare_inputs(take_rows(raw, rows[s : s + batch])).to(device)
            chunks.append(embed(inputs).float())
        dim = max_over_ranks(chunks[0].shape[1] if chunks else 0, device)
        z = torch.cat(chunks) if chunks else torch.zeros(0, dim, device=device)
        if len(z):
            z = z[torch.from_numpy(np.argsort(rows - lo, kind="stable")).to(z.device)]  # back to corpus order
        z = all_gather_rows(z)
        if not torch.isfinite(z).all():
            raise FloatingPointError("the encoder returned NaN/inf embeddings while mining; the model has diverged")
        return F.normalize(z, dim=1) if self.space == "cosine" else z

    def _filter(self, rows: torch.Tensor, sims: torch.Tensor, query_z: torch.Tensor, corpus_z: torch.Tensor,
                corpus_content: torch.Tensor | None = None) -> dict[str, Any]:
        """Apply the policy per query, keep the survivors' rank window, collect statistics.

        ``corpus_content`` (corpus row -> unique-vector id, with ``deduplicate``) adds two rules:
        ``duplicate`` (the corpus is the training set: exact copies of the anchor) and
        ``copy_of_positive`` (an exact copy of the query's positive is the positive, never its
        hardest negative)."""
        lo, hi = self.config.rank_window
        n_q, k = rows.shape
        kept = np.full((n_q, hi - lo), -1, dtype=np.int64)
        dropped: dict[str, int] = {}
        window_sims, same_label, anchored = [], 0, 0
        has_labels = "label" in self.query_meta and "label" in self.corpus_meta
        chunk = 8192
        for s in range(0, n_q, chunk):
            q = torch.arange(s, min(s + chunk, n_q))
            r, sim = rows[q], sims[q]  # (c, k); -1 where the corpus ran out
            present = r >= 0
            r = r.clamp(min=0)
            anchor_meta = {key: v[q] for key, v in self.query_meta.items()}
            cand_meta = {key: v[r] for key, v in self.corpus_meta.items()}
            pos_mask = torch.zeros_like(r, dtype=torch.bool)
            pos_sims = None
            if self.positive_ids is not None:
                pos_rows = self.positive_ids[q]
                pos_mask = r == pos_rows[:, None]
                pos_sims = (query_z[q.to(query_z.device)] * corpus_z[pos_rows.to(corpus_z.device)]).sum(1).cpu()
            neg, drop = self.policy.negative_mask(anchor_meta, cand_meta, pos_mask, sim, pos_sims)
            if corpus_content is not None and self.queries is None:
                duplicate = (corpus_content[r] == corpus_content[q][:, None]) & neg
                drop["duplicate"] = int((duplicate & present).sum())
                neg = neg & ~duplicate
            if corpus_content is not None and self.positive_ids is not None and self.queries is not None:
                copy = (corpus_content[r] == corpus_content[self.positive_ids[q]][:, None]) & neg
                drop["copy_of_positive"] = int((copy & present).sum())
                neg = neg & ~copy
            neg = neg & present
            for rule, count in drop.items():
                dropped[rule] = dropped.get(rule, 0) + int(count)  # refresh time: reading the device is fine here
            rank = neg.long().cumsum(1) - 1  # rank among survivors
            window = neg & (rank >= lo) & (rank < hi)
            slot = (rank - lo).clamp(min=0, max=hi - lo - 1)
            block = np.full((len(q), hi - lo), -1, dtype=np.int64)
            qi, ci = window.nonzero(as_tuple=True)
            block[qi.numpy(), slot[qi, ci].numpy()] = r[qi, ci].numpy()
            kept[s : s + len(q)] = block
            window_sims.append(sim[window].numpy())
            if has_labels:
                same_label += int((cand_meta["label"] == anchor_meta["label"][:, None])[window].sum())
            anchored += int(window.sum())
        self._candidates = kept
        window_sims = np.concatenate(window_sims) if window_sims else np.zeros(0)
        counts = (kept >= 0).sum(1)
        stats: dict[str, Any] = {
            "retrieved_per_query": k,
            "candidates_per_query": float(counts.mean()),
            "queries_short_of_negatives": int((counts < self.config.num_negatives).sum()),
            **{f"dropped_{rule}": count for rule, count in dropped.items()},
        }
        if len(window_sims):
            stats.update({f"similarity_p{p}": float(np.percentile(window_sims, p)) for p in (10, 50, 90)})
            low = -1.0 if self.space == "cosine" else float(window_sims.min())
            high = 1.0 if self.space == "cosine" else float(window_sims.max()) + 1e-6
            hist, edges = np.histogram(window_sims, bins=20, range=(low, high))
            stats["similarity_histogram"] = {"edges": edges.round(4).tolist(), "counts": hist.tolist()}
        if has_labels:
            stats["false_negative_rate"] = same_label / anchored if anchored else 0.0
        return stats

    def _write_log(self, record: dict[str, Any]) -> None:
        if self.log_dir is None or not is_rank_zero():
            return
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_dir / "miner_refreshes.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")

    # -- per step -------------------------------------------------------------------------------
    def sample(self, instance_ids: torch.Tensor) -> np.ndarray:
        """Corpus rows of ``num_negatives`` mined negatives per anchor: (N, n), -1 where short."""
        if self._candidates is None:
            raise RuntimeError("the miner has not been refreshed yet: call refresh() first")
        ids = instance_ids.detach().cpu().numpy().astype(np.int64)
        if (ids < 0).any() or (ids >= self.num_queries).any():
            bad = ids[(ids < 0) | (ids >= self.num_queries)][0]
            raise IndexError(f"anchor instance_id {bad} has no query in the miner (queries are dataset indices 0..{self.num_queries - 1})")
        n = self.config.num_negatives
        out = np.full((len(ids), n), -1, dtype=np.int64)
        rng = np.random.default_rng([self.config.seed, self.step, int(ids[0]) if len(ids) else 0])
        for row, q in enumerate(ids):
            available = self._candidates[q]
            available = available[available >= 0]
            if self.config.sampling == "top" or len(available) <= n:
                chosen = available[:n]
            else:
                chosen = rng.choice(available, size=n, replace=False)
            out[row, : len(chosen)] = chosen
        return out

    def mined_rows(self, anchor_meta: dict[str, torch.Tensor]) -> RoleBatch | None:
        """This step's mined negatives for the anchors: their corpus inputs and metadata (one
        row per corpus item, even when two anchors mined it), or None when none are left.
        ``last_stats`` gets the per-step figures."""
        mined = self.sample(anchor_meta["instance_id"])
        rows = mined[mined >= 0]
        _, first = np.unique(rows, return_index=True)
        rows = rows[np.sort(first)]
        stats = {"mined_per_anchor": len(rows) / max(1, len(mined))}
        if len(rows) and "label" in anchor_meta and "label" in self.corpus_meta:
            same = self.corpus_meta["label"][torch.from_numpy(mined.clip(min=0))] == anchor_meta["label"].cpu()[:, None]
            valid = torch.from_numpy(mined >= 0)
            stats["mined_false_negative_rate"] = float((same & valid).sum()) / max(1, int(valid.sum()))
        self.last_stats = stats
        if not len(rows):
            return None
        index = torch.from_numpy(rows)
        return RoleBatch(self.adapter.prepare_inputs(take_rows(self.corpus, rows)), {k: v[index] for k, v in self.corpus_meta.items()})

    # -- checkpointing ------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Everything a resumed run needs to sample exactly what the uninterrupted run would."""
        state: dict[str, Any] = {"step": self.step, "stale": self.stale, "refreshes": self.refreshes}
        if self._candidates is not None:
            state["candidates"] = torch.from_numpy(self._candidates.copy())
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.step, self.stale, self.refreshes = int(state["step"]), bool(state["stale"]), int(state["refreshes"])
        candidates = state.get("candidates")
        self._candidates = None if candidates is None else np.asarray(torch.as_tensor(candidates).numpy(), dtype=np.int64)
        if self._candidates is None:
            self.stale = True

    def config_dict(self) -> dict[str, Any]:
        return {**asdict(self.config), "space": self.space, "policy": asdict(self.policy)}


def _meta_tensors(meta: dict[str, Any] | None, n: int, what: str) -> dict[str, torch.Tensor]:
    if meta is None:
        return {"instance_id": torch.arange(n)}
    out = {}
    for key, values in meta.items():
        tensor = torch.as_tensor(np.asarray(values))
        if tensor.shape[:1] != (n,):  # (n,) or (n, L) per row (a user's seen_items)
            raise ValueError(f"{what}[{key!r}] needs one value per row ({n}), got shape {tuple(tensor.shape)}")
        out[key] = tensor
    if "instance_id" not in out:
        raise ValueError(f"{what} needs an 'instance_id' entry")
    return out


def take_rows(raw: Sequence[Any], rows: np.ndarray) -> Any:
    """Rows of a raw corpus: arrays and row-indexable tables by index array, lists item by item."""
    if isinstance(raw, (np.ndarray, torch.Tensor)) or getattr(raw, "supports_row_indexing", False):
        return raw[rows]
    return [raw[int(i)] for i in rows]


def corpus_from_dataset(samples: Sequence[Any], adapter: Any) -> tuple[list[Any], dict[str, np.ndarray]]:
    """The training set as the mining corpus: ``adapter.mining_corpus(samples)`` and
    the adapter's metadata (so mined items carry the same ids and labels as anchors)."""
    corpus = adapter.mining_corpus(samples)
    if isinstance(corpus, list) and corpus and all(isinstance(c, np.ndarray) for c in corpus) and len({c.shape for c in corpus}) == 1:
        corpus = np.stack(corpus)  # equal-shape rows: one array, indexed without Python loops
    metas = [adapter.meta(s, i) for i, s in enumerate(samples)]
    keys = [k for k in metas[0] if all(k in m for m in metas)]
    return corpus, {k: np.array([m[k] for m in metas]) for k in keys}
