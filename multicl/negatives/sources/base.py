"""The candidate-source protocol: where an anchor's negatives come from.

A learner folds its sources into one candidate pool, in order: the in-batch positives first
(column i is anchor i's positive), then each source's block. Every block carries metadata,
so the one :class:`~multicl.negatives.masks.FalseNegativePolicy` masks all of them alike, and
the learner logs per source what it gave and what each rule removed.

A source gives candidates in one of two ways:

* ``rows(batch)``: inputs for the candidate tower to embed in this step's forward pass, with
  gradient (explicit hard negatives, mined rows); ``block`` then receives their embeddings;
* ``block(context, None, None)`` alone: embeddings it already holds (a queue of past keys,
  embeddings gathered from other devices).

``after_loss(context)`` runs once the loss is built (a queue enqueues this step's keys) and
``training_hooks()`` lists what the trainer must call around each step (a miner's refresh).
Adding a source is a new file implementing this protocol; no engine file changes.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence

import torch

from multicl.types.batch import ContrastiveBatch, Meta, RoleBatch
from multicl.types.hooks import StepHook


@dataclass
class StepContext:
    """What sources may read in one forward pass."""

    batch: ContrastiveBatch
    anchors: torch.Tensor  # (N, D) anchor embeddings (with gradient)
    keys: torch.Tensor  # (N, D) the positives' embeddings (candidate tower or its EMA copy)


@dataclass
class CandidateBlock:
    """One source's candidates: embeddings (M, D) and metadata ((M,) each, or (N, M) when the
    candidates differ per anchor)."""

    embeddings: torch.Tensor
    meta: Meta

    def __len__(self) -> int:
        return int(self.embeddings.shape[0])


class CandidateSource(Protocol):
    """Subclass and override what the source needs; ``name`` labels its statistics."""

    name: str

    def rows(self, batch: ContrastiveBatch) -> RoleBatch | None:
        """Rows for the candidate tower to embed this step (None: nothing to embed)."""
        return None

    def block(self, context: StepContext, rows: RoleBatch | None, embedded: torch.Tensor | None) -> CandidateBlock | None:
        """This step's candidates (``rows`` as returned by ``rows``, ``embedded`` their embeddings)."""
        raise NotImplementedError

    def after_loss(self, context: StepContext) -> None:
        return None

    def training_hooks(self) -> Sequence[StepHook]:
        return ()

    def stats(self) -> dict[str, float]:
        """Figures for the training log after each step (beyond what the learner counts)."""
        return {}

    def bind(self, embed_queries, embed_corpus, device) -> None:
        """Given by the learner: its anchor / candidate embedding functions (no gradient is
        taken by the caller) and a callable returning its device. For sources that embed
        outside the forward pass (a miner)."""
        return None
