"""Temperature of a softmax over similarities: fixed or learnable (log-parametrised, clamped)."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class TemperatureSchedule:
    """Temperature moving from ``start`` to ``end`` over the run (then held).

    ``kind``: ``linear`` or ``cosine`` (half-cosine, as DINO's teacher temperature warm-up
    and MoCo-v3-style schedules use). The run length comes from the trainer
    (``Temperature.set_total_steps``); ``total_steps`` is only a default for use outside one.
    """

    start: float
    end: float
    total_steps: int | None = None
    kind: str = "cosine"

    def __post_init__(self) -> None:
        if self.kind not in ("linear", "cosine"):
            raise ValueError(f"schedule kind must be linear or cosine, got {self.kind!r}")
        if (self.total_steps is not None and self.total_steps <= 0) or self.start <= 0 or self.end <= 0:
            raise ValueError("a temperature schedule needs positive start, end and total_steps (or total_steps=None: from the trainer)")

    def value(self, step: int, total_steps: int | None = None) -> float:
        total = total_steps or self.total_steps
        if total is None:
            raise ValueError(
                "a temperature schedule needs the run length: train with the Trainer (which calls set_total_steps) "
                "or give TemperatureSchedule(total_steps=...)"
            )
        progress = min(max(step / total, 0.0), 1.0)
        if self.kind == "cosine":
            progress = 0.5 * (1 - math.cos(math.pi * progress))
        return self.start + (self.end - self.start) * progress


class Temperature(nn.Module):
    """Holds ``temperature`` for ``logits = similarity / temperature``.

    Args:
        initial: starting value (SimCSE uses 0.05; CLIP starts at 0.07).
        learnable: learn ``log(temperature)`` by gradient descent (CLIP-style).
        min_value / max_value: clamp range, so a learnable temperature cannot run to 0
            (logits explode) or to infinity (uniform softmax).
        schedule: a fixed :class:`TemperatureSchedule`; the trainer calls
            ``set_total_steps(total)`` before training and ``after_step(step)`` after every
            optimizer step (not with ``learnable``).
    """

    def __init__(
        self,
        initial: float = 0.05,
        learnable: bool = False,
        min_value: float = 0.01,
        max_value: float = 1.0,
        schedule: TemperatureSchedule | None = None,
    ) -> None:
        super().__init__()
        if schedule is not None:
            if learnable:
                raise ValueError("a temperature is either learnable or scheduled, not both")
            initial = schedule.start
            min_value = min(min_value, schedule.start, schedule.end)
            max_value = max(max_value, schedule.start, schedule.end)
        self.schedule = schedule
        self.total_steps: int | None = schedule.total_steps if schedule is not None else None
        if not initial > 0:
            raise ValueError(f"temperature must be > 0, got {initial}")
        if not 0 < min_value <= initial <= max_value:
            raise ValueError(
                f"temperature {initial} must lie in [min_value={min_value}, max_value={max_value}]"
            )
        self.learnable = learnable
        self.min_value = min_value
        self.max_value = max_value
        log_t = torch.tensor(math.log(initial), dtype=torch.float32)
        if learnable:
            self.log_temperature = nn.Parameter(log_t)
        else:
            self.register_buffer("log_temperature", log_t)

    def set_total_steps(self, total_steps: int) -> None:
        if total_steps <= 0:
            raise ValueError(f"total_steps must be positive, got {total_steps}")
        self.total_steps = int(total_steps)

    def before_step(self, step: int) -> None:
        return None

    @torch.no_grad()
    def after_step(self, step: int) -> None:
        if self.schedule is not None:
            self.log_temperature.fill_(math.log(self.schedule.value(step, self.total_steps)))

    def forward(self) -> torch.Tensor:
        return self.log_temperature.exp().clamp(self.min_value, self.max_value)

    def extra_repr(self) -> str:
        return f"value={float(self()):.4f}, learnable={self.learnable}"


def make_temperature(temperature: "float | TemperatureSchedule", learnable: bool = False, min_value: float = 0.01) -> Temperature:
    """A :class:`Temperature` from a number (fixed or learnable) or a :class:`TemperatureSchedule`."""
    if isinstance(temperature, TemperatureSchedule):
        return Temperature(learnable=False, min_value=min_value, schedule=temperature)
    return Temperature(float(temperature), learnable=learnable, min_value=min(min_value, float(temperature)))
