"""Momentum (EMA) copies of a network, with the momentum schedule BYOL and MoCo use."""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class MomentumSchedule:
    """EMA momentum from ``base`` rising to ``final`` along a half cosine over ``total_steps``
    (BYOL: 0.996 -> 1.0). ``final=base`` keeps it constant (MoCo: 0.999)."""

    base: float = 0.996
    final: float = 1.0
    total_steps: int = 1000

    def __post_init__(self) -> None:
        if not (0.0 <= self.base <= 1.0 and 0.0 <= self.final <= 1.0):
            raise ValueError(f"momentum must lie in [0, 1]; got base={self.base}, final={self.final}")

    def value(self, step: int) -> float:
        progress = min(max(step / max(1, self.total_steps), 0.0), 1.0)
        return self.final - (self.final - self.base) * (math.cos(math.pi * progress) + 1) / 2


class MomentumEncoder(nn.Module):
    """A frozen copy of ``online`` updated as ``target = m * target + (1 - m) * online``.

    ``update(online, step)`` is called after each optimizer step. Buffers (batch-norm
    statistics) are copied. The copy is a submodule, so it is checkpointed and resumes exactly.
    """

    def __init__(self, online: nn.Module, schedule: MomentumSchedule) -> None:
        super().__init__()
        self.target = copy.deepcopy(online)
        for param in self.target.parameters():
            param.requires_grad_(False)
        self.schedule = schedule
        self.last_momentum = schedule.base

    @torch.no_grad()
    def update(self, online: nn.Module, step: int) -> None:
        m = self.schedule.value(step)
        self.last_momentum = m
        for target, source in zip(self.target.parameters(), online.parameters()):
            target.mul_(m).add_(source.detach(), alpha=1 - m)
        for target, source in zip(self.target.buffers(), online.buffers()):
            target.copy_(source)

    def forward(self, *args, **kwargs):
        with torch.no_grad():
            return self.target(*args, **kwargs)
