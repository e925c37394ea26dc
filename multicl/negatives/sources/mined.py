"""Hard negatives mined from a corpus by a refreshing :class:`HardNegativeMiner`."""
from __future__ import annotations

from typing import Any, Callable, Sequence

import torch

from multicl.negatives.miner import HardNegativeMiner
from multicl.negatives.sources.base import CandidateBlock, CandidateSource, StepContext
from multicl.types.batch import ContrastiveBatch, RoleBatch
from multicl.types.hooks import NoOpHook, StepHook


class MinedNegatives(CandidateSource):
    """Each step, ``num_negatives`` mined corpus rows per anchor join the pool; the candidate
    tower embeds them with gradient. The miner is refreshed before a step when due (trainer
    hook), with the learner's towers in eval mode and without gradient; its state is
    checkpointed through the hook."""

    name = "mined"

    def __init__(self, miner: HardNegativeMiner) -> None:
        self.miner = miner
        self._embed_queries: Callable[[Any], torch.Tensor] | None = None
        self._embed_corpus: Callable[[Any], torch.Tensor] | None = None
        self._device: Callable[[], torch.device] | None = None
        self._hook = _RefreshHook(self)
        self.last_stats: dict[str, float] = {}

    def bind(self, embed_queries, embed_corpus, device) -> None:
        self._embed_queries, self._embed_corpus, self._device = embed_queries, embed_corpus, device

    def refresh_if_due(self) -> dict[str, Any]:
        if not self.miner.stale:
            return {}
        if self._embed_corpus is None:
            raise RuntimeError("MinedNegatives is not bound to a learner (the learner calls bind)")
        refresh = self.miner.refresh(self._embed_corpus, self._device(), embed_queries=self._embed_queries)
        self.last_stats = {f"miner_{k}": float(v) for k, v in refresh.items()
                           if isinstance(v, (int, float)) and k not in ("step", "refresh")}
        return refresh

    def rows(self, batch: ContrastiveBatch) -> RoleBatch | None:
        self.refresh_if_due()  # used outside a trainer (a hand-written loop): mine on first use
        rows = self.miner.mined_rows(batch.anchors.meta)
        return None if rows is None else rows.to(batch.anchors.meta["instance_id"].device)

    def block(self, context: StepContext, rows: RoleBatch | None, embedded: torch.Tensor | None) -> CandidateBlock | None:
        if rows is None or embedded is None:
            return None
        return CandidateBlock(embedded, rows.meta)

    def training_hooks(self) -> Sequence[StepHook]:
        return (self._hook,)

    def stats(self) -> dict[str, float]:
        refresh, self.last_stats = self.last_stats, {}  # a refresh's figures are logged at its step only
        return {**refresh, **self.miner.last_stats}


class _RefreshHook(NoOpHook):
    def __init__(self, source: MinedNegatives) -> None:
        self.source = source

    def before_step(self, step: int) -> None:
        self.source.refresh_if_due()

    def after_step(self, step: int) -> None:
        self.source.miner.after_step(step)

    def state_dict(self) -> dict[str, Any]:
        return self.source.miner.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.source.miner.load_state_dict(state)
