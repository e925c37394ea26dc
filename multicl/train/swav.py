"""SwAVLearner: online clustering with swapped prediction (Caron et al. 2020) on any adapter's crops.

Encoder + projector -> L2-normalised z; prototype scores ``z @ normalize(C).T``. For each
global crop, Sinkhorn-Knopp turns its scores (plus a queue of past projections when batches
are small) into equipartitioned codes; every other crop predicts those codes
(:class:`~multicl.objectives.swav.SwAVLoss`). Schedules from the trainer's run length:
prototypes are L2-normalised before every step and frozen (zero gradient) for the first
``freeze_prototypes_fraction``; the queue is filled from ``queue_start_fraction`` on and used
once full. The queue is per rank (SwAV's layout): Sinkhorn's sums are all-reduced, so N ranks
of Q queued rows act as one queue of N*Q. The queues are :class:`~multicl.negatives.queue.KeyQueue`
ring buffers (module buffers: checkpoints carry them).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from multicl.negatives.queue import KeyQueue
from multicl.objectives.swav import SwAVLoss
from multicl.train.crops import crops_of, embed_crops
from multicl.train.towers import Tower, TowerLearner, Towers
from multicl.types.hooks import NoOpHook, StepHook
from multicl.utils.gradient import gradient_gate


class SwAVLearner(TowerLearner):
    """Args:
        encoder: the network kept after training.
        projector: (B, embed_dim) -> (B, projection_dim), training-only.
        projection_dim / num_prototypes: z's size and K (the paper: 128 / 3,000 on ImageNet).
        objective: a :class:`SwAVLoss`.
        queue_length: past projections per global crop appended before Sinkhorn (0: off; SwAV
            uses 3,840 for batches <= 256).
        queue_start_fraction / freeze_prototypes_fraction: shares of the run.
    """

    def __init__(self, encoder: nn.Module, projector: nn.Module, projection_dim: int, num_prototypes: int = 300,
                 objective: SwAVLoss | None = None, queue_length: int = 0, queue_start_fraction: float = 0.1,
                 freeze_prototypes_fraction: float = 0.05, num_global_crops: int = 2) -> None:
        super().__init__()
        if num_prototypes < 2 or queue_length < 0:
            raise ValueError(f"need num_prototypes >= 2 and queue_length >= 0, got {num_prototypes}, {queue_length}")
        self.towers = Towers(Tower(encoder, projector))
        self.prototypes = nn.Linear(projection_dim, num_prototypes, bias=False)
        self.objective = objective or SwAVLoss()
        self.queue_start_fraction, self.freeze_prototypes_fraction = queue_start_fraction, freeze_prototypes_fraction
        # one ring buffer of past projections per global crop (the MoCo queue without metadata)
        self.queues = nn.ModuleList([KeyQueue(queue_length, projection_dim, meta_keys=()) for _ in range(num_global_crops)]
                                    if queue_length else [])
        self.num_global_crops, self.queue_length = num_global_crops, queue_length
        self.queue_active = False
        self.prototypes_trainable = True
        self.last_stats: dict[str, float | torch.Tensor] = {}

    def training_hooks(self) -> list[StepHook]:
        return [_SwAVSchedule(self)]

    @property
    def queue_filled(self) -> int:
        """Projections held per global crop (host-side count: no device read)."""
        return len(self.queues[0]) if len(self.queues) else 0

    def _scores(self, z: torch.Tensor) -> torch.Tensor:
        weight = gradient_gate(self.prototypes.weight, self.prototypes_trainable)
        return F.linear(z, weight)

    def forward(self, batch) -> torch.Tensor:
        global_crops, local_crops = crops_of(batch)
        if len(global_crops) != self.num_global_crops:
            raise ValueError(f"this learner was built for {self.num_global_crops} global crops, the batch has {len(global_crops)}")
        z_global = [F.normalize(z, dim=1) for z in embed_crops(self.embed, global_crops)]
        z_local = [F.normalize(z, dim=1) for z in embed_crops(self.embed, local_crops)]
        scores = [self._scores(z) for z in z_global + z_local]
        use_queue = self.queue_length > 0 and self.queue_active and self.queue_filled >= self.queue_length
        queue_scores = [self._scores(q.contents()[0]).detach() for q in self.queues] if use_queue else None
        loss = self.objective(scores, num_global=len(z_global), queue_scores=queue_scores)
        if self.training and self.queue_length > 0 and self.queue_active:
            for queue, z in zip(self.queues, z_global):
                queue.enqueue(z.detach(), {})
        with torch.no_grad():
            assigned = torch.cat(scores[: len(z_global)]).argmax(1)
            used = torch.zeros(scores[0].shape[1], dtype=torch.bool, device=assigned.device).index_fill_(0, assigned, True).sum()
            self.last_stats = {"prototypes_used": used, "queue_in_use": float(use_queue)}  # a tensor: read at log steps
        return loss

class _SwAVSchedule(NoOpHook):
    """Before each step: normalise the prototypes, (un)freeze them, switch the queue on."""

    def __init__(self, learner: SwAVLearner) -> None:
        self.learner, self.total_steps = learner, 1

    def set_total_steps(self, total_steps: int) -> None:
        self.total_steps = max(1, int(total_steps))

    def before_step(self, step: int) -> None:
        learner = self.learner
        with torch.no_grad():
            weight = learner.prototypes.weight
            weight.copy_(F.normalize(weight, dim=1))
        learner.prototypes_trainable = step >= learner.freeze_prototypes_fraction * self.total_steps
        learner.queue_active = step >= learner.queue_start_fraction * self.total_steps

