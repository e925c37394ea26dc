"""Momentum (EMA) copies of a network, with the momentum schedule BYOL and MoCo use."""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class MomentumSchedule:
    """EMA momentum from ``base`` rising to ``final`` along a half cosine over the run
    (BYOL: 0.996 -> 1.0). ``final=base`` keeps it constant (MoCo: 0.999).

    The run length comes from the trainer (``MomentumEncoder.set_total_steps``);
    ``total_steps`` here is only a default for use outside a trainer.
    """

    base: float = 0.996
    final: float = 1.0
    total_steps: int | None = None

    def __post_init__(self) -> None:
        if not (0.0 <= self.base <= 1.0 and 0.0 <= self.final <= 1.0):
            raise ValueError(f"momentum must lie in [0, 1]; got base={self.base}, final={self.final}")
        if self.total_steps is not None and self.total_steps <= 0:
            raise ValueError(f"total_steps must be positive or None (taken from the trainer), got {self.total_steps}")

    def value(self, step: int, total_steps: int | None = None) -> float:
        if self.base == self.final:
            return self.base
        total = total_steps or self.total_steps
        if total is None:
            raise ValueError(
                f"a rising momentum schedule ({self.base} -> {self.final}) needs the run length: train it with the "
                f"Trainer (which calls set_total_steps) or give MomentumSchedule(total_steps=...)"
            )
        progress = min(max(step / max(1, total), 0.0), 1.0)
        return self.final - (self.final - self.base) * (math.cos(math.pi * progress) + 1) / 2


class MomentumEncoder(nn.Module):
    """A frozen copy of ``online`` updated as ``target = m * target + (1 - m) * online``.

    ``update(online, step)`` is called after each optimizer step; ``set_total_steps(total)``
    (from the trainer, before training) sets the run length the schedule spans. Buffers
    (batch-norm statistics) are copied. The copy is a submodule, so it is checkpointed and
    resumes exactly.
    """

    def __init__(self, online: nn.Module, schedule: MomentumSchedule) -> None:
        super().__init__()
        self.target = copy.deepcopy(online)
        for param in self.target.parameters():
            param.requires_grad_(False)
        self.schedule = schedule
        self.total_steps: int | None = schedule.total_steps
        self.last_momentum = schedule.base

    def set_total_steps(self, total_steps: int) -> None:
        if total_steps <= 0:
            raise ValueError(f"total_steps must be positive, got {total_steps}")
        self.total_steps = int(total_steps)

    @torch.no_grad()
    def update(self, online: nn.Module, step: int) -> None:
        m = self.schedule.value(step, self.total_steps)
        self.last_momentum = m
        for target, source in zip(self.target.parameters(), online.parameters()):
            target.mul_(m).add_(source.detach(), alpha=1 - m)
        for target, source in zip(self.target.buffers(), online.buffers()):
            target.copy_(source)

    def forward(self, *args, **kwargs):
        with torch.no_grad():
            return self.target(*args, **kwargs)
