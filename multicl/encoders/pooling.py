"""Token -> sentence pooling for transformer text encoders (SimCSE's names)."""
from __future__ import annotations

import torch

POOLINGS = ("cls", "cls_before_pooler", "mean", "first_last_avg")


def masked_mean(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """(B, T, D), (B, T) -> (B, D): mean over real tokens only."""
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
    summed = (hidden * mask).sum(dim=1)  # (B, D)
    counts = mask.sum(dim=1).clamp(min=1e-9)  # (B, 1)
    return summed / counts


def check_pooling(pooling: str) -> str:
    if pooling not in POOLINGS:
        raise ValueError(f"unknown pooling {pooling!r}; available: {list(POOLINGS)}")
    return pooling
