"""Temperature of a softmax over similarities: fixed or learnable (log-parametrised, clamped)."""
from __future__ import annotations

import math

import torch
from torch import nn


class Temperature(nn.Module):
    """Holds ``temperature`` for ``logits = similarity / temperature``.

    Args:
        initial: starting value (SimCSE uses 0.05; CLIP starts at 0.07).
        learnable: learn ``log(temperature)`` by gradient descent (CLIP-style).
        min_value / max_value: clamp range, so a learnable temperature cannot run to 0
            (logits explode) or to infinity (uniform softmax).
    """

    def __init__(
        self,
        initial: float = 0.05,
        learnable: bool = False,
        min_value: float = 0.01,
        max_value: float = 1.0,
    ) -> None:
        super().__init__()
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

    def forward(self) -> torch.Tensor:
        return self.log_temperature.exp().clamp(self.min_value, self.max_value)

    def extra_repr(self) -> str:
        return f"value={float(self()):.4f}, learnable={self.learnable}"
