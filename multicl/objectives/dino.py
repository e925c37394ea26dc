"""DINO's self-distillation loss with an EMA centre (Caron et al. 2021)."""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from multicl.utils.distributed import all_reduce_, world_size


class DINOLoss(nn.Module):
    """Cross-entropy from the teacher's centred, sharpened distribution to the student's.

    Inputs: ``student`` — one (N, K) logit tensor per crop, the global crops first and in the
    teacher's order; ``teacher`` — one (N, K) tensor per global crop (from the EMA teacher);
    ``teacher_temperature`` — the sharpening temperature this step (the learner warms it up).
    Loss: mean over pairs (teacher crop i, student crop v != i) of
    ``-sum_k softmax((t_i - c) / tau_t)[k] * log_softmax(s_v / tau_s)[k]``.
    Centring: after each training forward, ``c <- m c + (1 - m) mean(teacher rows of every
    rank)`` (all-reduced); centring keeps one dimension from dominating, sharpening keeps the
    output from going uniform: together they avoid collapse without negatives.
    Output: a scalar. Defaults: student temperature 0.1, centre momentum 0.9 (the paper's).
    """

    def __init__(self, out_dim: int, student_temperature: float = 0.1, center_momentum: float = 0.9) -> None:
        super().__init__()
        if student_temperature <= 0 or not 0 <= center_momentum < 1:
            raise ValueError(f"need student_temperature > 0 and center_momentum in [0, 1); got {student_temperature}, {center_momentum}")
        self.student_temperature, self.center_momentum = student_temperature, center_momentum
        self.register_buffer("center", torch.zeros(1, out_dim))

    def forward(self, student: Sequence[torch.Tensor], teacher: Sequence[torch.Tensor], teacher_temperature: float = 0.04) -> torch.Tensor:
        if len(teacher) < 1 or len(student) < 2 or len(student) < len(teacher):
            raise ValueError(f"DINO needs >= 2 student crops and 1..{len(student)} teacher crops; got {len(student)} and {len(teacher)}")
        k = self.center.shape[1]
        for name, crops in (("student", student), ("teacher", teacher)):
            for c in crops:
                if c.dim() != 2 or c.shape[1] != k or c.shape[0] != student[0].shape[0]:
                    raise ValueError(f"{name} crops must be (N, {k}) with one N; got {tuple(c.shape)}")
        if teacher_temperature <= 0:
            raise ValueError(f"teacher_temperature must be positive, got {teacher_temperature}")
        with torch.autocast(student[0].device.type, enabled=False):
            targets = [F.softmax((t.detach().float() - self.center) / teacher_temperature, dim=1) for t in teacher]
            log_probs = [F.log_softmax(s.float() / self.student_temperature, dim=1) for s in student]
            total, pairs = student[0].new_zeros((), dtype=torch.float32), 0
            for i, target in enumerate(targets):
                for v, log_prob in enumerate(log_probs):
                    if v == i:  # a crop does not predict itself
                        continue
                    total = total - (target * log_prob).sum(dim=1).mean()
                    pairs += 1
        if self.training:
            self.update_center(teacher)
        return total / pairs

    @torch.no_grad()
    def update_center(self, teacher: Sequence[torch.Tensor]) -> None:
        rows = torch.cat([t.detach().float() for t in teacher])
        batch_center = all_reduce_(rows.sum(dim=0, keepdim=True)) / (rows.shape[0] * world_size())
        self.center.mul_(self.center_momentum).add_(batch_center, alpha=1 - self.center_momentum)
