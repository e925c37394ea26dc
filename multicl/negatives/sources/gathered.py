"""Candidates gathered from the other devices: every rank's positives as negatives for all."""
from __future__ import annotations

import torch

from multicl.types.batch import RoleBatch
from multicl.negatives.sources.base import CandidateBlock, CandidateSource, StepContext
from multicl.utils.distributed import all_gather_counts, all_gather_rows, all_gather_with_grad, rank, world_size


class GatheredNegatives(CandidateSource):
    """The other ranks' positives (keys) with their metadata, appended after the in-batch
    block. With ``with_gradient`` the gather is the autograd one, so the loss reaches the
    other ranks' encoders through their own rows (needs equal batch sizes on every rank);
    without, the gathered keys are constants. One process: no block.

    Instance ids must be global (dataset indices are), so the policy's same-instance rule
    keeps a sample's copy on another rank out of the negatives."""

    name = "gathered"

    def __init__(self, with_gradient: bool = True) -> None:
        self.with_gradient = with_gradient

    def block(self, context: StepContext, rows: RoleBatch | None, embedded: torch.Tensor | None) -> CandidateBlock | None:
        if world_size() == 1:
            return None
        keys = context.keys
        everything = all_gather_with_grad(keys) if self.with_gradient else all_gather_rows(keys.detach())
        n = keys.shape[0]
        counts = [n] * world_size() if self.with_gradient else all_gather_counts(n, keys.device)
        start = sum(counts[: rank()])
        others = torch.cat([torch.arange(0, start), torch.arange(start + n, sum(counts))]).to(keys.device)
        meta = {k: all_gather_rows(v)[others] for k, v in context.batch.positives.meta.items()}
        return CandidateBlock(everything[others], meta)
