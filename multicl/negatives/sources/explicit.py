"""Explicit hard negatives carried in the batch (contradictions, far clips of the stream)."""
from __future__ import annotations

import torch

from multicl.negatives.sources.base import CandidateBlock, CandidateSource, StepContext
from multicl.types.batch import ContrastiveBatch, RoleBatch


class ExplicitHardNegatives(CandidateSource):
    """The batch's ``hard_negatives`` role, embedded by the candidate tower with gradient and
    offered to every anchor."""

    name = "hard_negatives"

    def rows(self, batch: ContrastiveBatch) -> RoleBatch | None:
        return batch.hard_negatives

    def block(self, context: StepContext, rows: RoleBatch | None, embedded: torch.Tensor | None) -> CandidateBlock | None:
        if rows is None or embedded is None:
            return None
        return CandidateBlock(embedded, rows.meta)
