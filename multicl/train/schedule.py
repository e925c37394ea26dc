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


def build_scheduler(optimizer: torch.optim.Optimizer, total_steps: int, warmup_ratio: float, kind: str, start_step: int = 0) -> LambdaLR:
    """The schedule over ``total_steps``, positioned at ``start_step`` (a resume).

    On a resume the schedule is rebuilt for the run's *current* total rather than loaded
    (a saved ``LambdaLR`` carries the old total inside its multiplier, so steps added by a
    larger ``max_steps`` would train at lr 0); the step count is all that carries over. The
    optimizer must have been loaded first (its param groups hold ``initial_lr``).
    """
    decay = WarmupDecay(int(round(warmup_ratio * total_steps)), total_steps, kind)
    if start_step <= 0:
        return LambdaLR(optimizer, decay)
    missing = [i for i, group in enumerate(optimizer.param_groups) if "initial_lr" not in group]
    if missing:
        raise ValueError(f"resuming a schedule at step {start_step} needs the optimizer's saved state (no initial_lr in groups {missing})")
    return LambdaLR(optimizer, decay, last_epoch=start_step - 1)
