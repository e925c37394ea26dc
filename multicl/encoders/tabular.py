"""Encoders over preprocessed table rows: inputs ``{"numeric": (B, F_num), "categorical": (B, F_cat)}``.

``TabularMLPEncoder``: one embedding table per categorical column, concatenated with the scaled
numerics, then Linear-BatchNorm-ReLU blocks. ``FeatureTokenTransformer`` (FT-Transformer,
Gorishniy et al. 2021): every feature becomes a token, a [CLS] token attends over them.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from multicl.encoders.mlp import MLPEncoder


def embedding_width(cardinality: int) -> int:
    """A common rule of thumb (fast.ai): grows slowly with the number of values, at most 32."""
    return int(min(32, round(1.6 * cardinality**0.56)))


class TabularMLPEncoder(nn.Module):
    def __init__(self, numeric_width: int, cardinalities: Sequence[int], embed_dim: int = 64,
                 hidden_dims: tuple[int, ...] = (256, 256), dropout: float = 0.0) -> None:
        super().__init__()
        if numeric_width < 0 or (numeric_width == 0 and not cardinalities):
            raise ValueError("the encoder needs at least one numeric or categorical feature")
        self.numeric_width = numeric_width
        self.cardinalities = list(cardinalities)
        self.embeddings = nn.ModuleList(nn.Embedding(c, embedding_width(c)) for c in self.cardinalities)
        in_dim = numeric_width + sum(e.embedding_dim for e in self.embeddings)
        self.mlp = MLPEncoder(in_dim, embed_dim, hidden_dims, dropout)
        self.embed_dim = embed_dim

    def forward(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        parts = [inputs["numeric"].float()] if self.numeric_width else []
        categorical = inputs.get("categorical")
        for j, table in enumerate(self.embeddings):
            parts.append(table(categorical[:, j]))
        return self.mlp({"x": torch.cat(parts, dim=1)})  # (B, embed_dim)


class FeatureTokenTransformer(nn.Module):
    """Numeric feature j -> ``x_j * w_j + b_j``; categorical -> its embedding; + [CLS]; a small
    pre-norm transformer; the [CLS] output projected to ``embed_dim``."""

    def __init__(self, numeric_width: int, cardinalities: Sequence[int], embed_dim: int = 64, token_dim: int = 32,
                 depth: int = 2, heads: int = 4, dropout: float = 0.1) -> None:
        super().__init__()
        self.numeric_width = numeric_width
        self.numeric_weight = nn.Parameter(torch.randn(numeric_width, token_dim) * 0.1)
        self.numeric_bias = nn.Parameter(torch.zeros(numeric_width, token_dim))
        self.embeddings = nn.ModuleList(nn.Embedding(c, token_dim) for c in cardinalities)
        self.cls = nn.Parameter(torch.zeros(1, 1, token_dim))
        layer = nn.TransformerEncoderLayer(token_dim, heads, 2 * token_dim, dropout, batch_first=True, norm_first=True)
        self.transformer = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.out = nn.Sequential(nn.LayerNorm(token_dim), nn.Linear(token_dim, embed_dim))
        self.embed_dim = embed_dim

    def forward(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        numeric = inputs["numeric"].float()
        tokens = [numeric[:, :, None] * self.numeric_weight + self.numeric_bias]  # (B, F_num, T)
        if self.embeddings:
            tokens.append(torch.stack([t(inputs["categorical"][:, j]) for j, t in enumerate(self.embeddings)], 1))
        x = torch.cat([self.cls.expand(numeric.shape[0], -1, -1), *tokens], dim=1)
        return self.out(self.transformer(x)[:, 0])  # (B, embed_dim)
