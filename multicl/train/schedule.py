"""Learning-rate schedule: linear warm-up, then linear / cosine decay to 0, or constant."""
from __future__ import annotations

import math

import torch
from torch.optim.lr_scheduler import LambdaLR


class WarmupDecay:
    """Multiplier of the base learning rate at a given optimizer step (picklable)."""

    def __init__(self, warmup_steps: int, total_steps: int, kind: str) -> None:
        self.warmup_steps = warmup_steps
        self.total_steps = total_steps
        self.kind = kind

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return (step + 1) / (self.warmup_steps + 1)
        if self.kind == "constant":
            return 1.0
        progress = (step - self.warmup_steps) / max(1, self.total_steps - self.warmup_steps)
        progress = min(max(progress, 0.0), 1.0)
        if self.kind == "cosine":
            return 0.5 * (1.0 + math.cos(math.pi * progress))
        return 1.0 - progress


def build_scheduler(optimizer: torch.optim.Optimizer, total_steps: int, warmup_ratio: float, kind: str) -> LambdaLR:
    return LambdaLR(optimizer, WarmupDecay(int(round(warmup_ratio * total_steps)), total_steps, kind))
