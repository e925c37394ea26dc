"""Projection heads: used during training, dropped at export (SimCLR, SimCSE)."""
from __future__ import annotations

from torch import nn

HEADS = ("none", "linear", "mlp", "mlp_bn")


def build_head(name: str, embed_dim: int, out_dim: int | None = None, hidden_dim: int | None = None) -> nn.Module:
    """Build a projection head.

    ``none``    identity (train the encoder's own embedding directly);
    ``linear``  one linear map;
    ``mlp``     linear + tanh, SimCSE's training-only MLP over [CLS];
    ``mlp_bn``  linear - batchnorm - relu - linear, SimCLR's head.
    """
    out_dim = out_dim or embed_dim
    hidden_dim = hidden_dim or embed_dim
    if name == "none":
        if out_dim != embed_dim:
            raise ValueError(f"head 'none' keeps embed_dim={embed_dim}; out_dim={out_dim} needs another head")
        return nn.Identity()
    if name == "linear":
        return nn.Linear(embed_dim, out_dim)
    if name == "mlp":
        return nn.Sequential(nn.Linear(embed_dim, out_dim), nn.Tanh())
    if name == "mlp_bn":
        return nn.Sequential(
            nn.Linear(embed_dim, hidden_dim),
            nn.BatchNorm1d(hidden_dim),
            nn.ReLU(inplace=True),
            nn.Linear(hidden_dim, out_dim),
        )
    raise ValueError(f"unknown projection head {name!r}; available: {list(HEADS)}")
