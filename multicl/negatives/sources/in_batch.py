"""In-batch candidates: every anchor's positive, the others' positives as negatives."""
from __future__ import annotations

import torch

from multicl.types.batch import RoleBatch
from multicl.negatives.sources.base import CandidateBlock, CandidateSource, StepContext


class InBatchNegatives(CandidateSource):
    """The first block of every pool: column i is anchor i's positive (always kept as the
    positive); the other columns are negatives unless ``use_as_negatives=False`` (only the
    other sources then supply negatives) or the policy removes them. Metadata is the
    positives' own (a jittered clip's own timestamp)."""

    name = "in_batch"

    def __init__(self, use_as_negatives: bool = True) -> None:
        self.use_as_negatives = use_as_negatives

    def block(self, context: StepContext, rows: RoleBatch | None, embedded: torch.Tensor | None) -> CandidateBlock:
        return CandidateBlock(context.keys, context.batch.positives.meta)
