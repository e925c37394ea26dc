"""MoCo's queue of past keys as a candidate source, identical on every rank."""
from __future__ import annotations

import torch
from torch import nn

from multicl.negatives.queue import KeyQueue
from multicl.types.batch import RoleBatch
from multicl.negatives.sources.base import CandidateBlock, CandidateSource, StepContext
from multicl.utils.distributed import all_gather_rows


class QueueNegatives(nn.Module, CandidateSource):
    """Keys of earlier steps (detached) with their metadata, so the policy masks entries of
    the anchor's own instance or group. Under DDP every rank enqueues the keys of all ranks,
    in rank order, so the queues stay identical (and nothing needs broadcasting); the queue's
    buffers live in the learner's state dict and resume exactly.

    Args:
        size: queue length; keep it well below the dataset size.
        dim: key size (the candidate tower's output).
        meta_keys: the metadata the policy reads (``instance_id`` and what the rules need).
    """

    name = "queue"

    def __init__(self, size: int, dim: int, meta_keys: tuple[str, ...] = ("instance_id", "group_id")) -> None:
        super().__init__()
        self.queue = KeyQueue(size, dim, meta_keys=meta_keys)

    def __len__(self) -> int:
        return len(self.queue)

    def block(self, context: StepContext, rows: RoleBatch | None, embedded: torch.Tensor | None) -> CandidateBlock | None:
        if not len(self.queue):
            return None
        keys, meta = self.queue.contents()
        return CandidateBlock(keys.to(context.keys.dtype), meta)

    def after_loss(self, context: StepContext) -> None:
        keys = all_gather_rows(context.keys.detach().float())
        meta = {k: all_gather_rows(context.batch.positives.meta[k]) for k in self.queue.meta_keys}
        self.queue.enqueue(keys, meta)
