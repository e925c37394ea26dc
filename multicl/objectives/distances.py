"""Pairwise distances for margin-based objectives."""
from __future__ import annotations

import torch
import torch.nn.functional as F

DISTANCES = ("cosine", "euclidean")


def pairwise_distance(a: torch.Tensor, b: torch.Tensor, distance: str) -> torch.Tensor:
    """(N, D), (M, D) -> (N, M) float32: ``1 - cos`` or the euclidean distance."""
    if distance not in DISTANCES:
        raise ValueError(f"distance must be one of {DISTANCES}, got {distance!r}")
    with torch.autocast(a.device.type, enabled=False):
        a, b = a.float(), b.float()
        if distance == "cosine":
            return 1.0 - F.normalize(a, dim=-1) @ F.normalize(b, dim=-1).T
        # sqrt of a clamped squared distance: finite gradient even at 0
        sq = (a * a).sum(1, keepdim=True) - 2 * a @ b.T + (b * b).sum(1)[None, :]
        return sq.clamp(min=1e-12).sqrt()
