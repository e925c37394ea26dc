"""MLP encoder for dense feature vectors (preprocessed tabular records, precomputed features)."""
from __future__ import annotations

import torch
from torch import nn


class MLPEncoder(nn.Module):
    """``forward({"x": (B, in_dim)}) -> (B, embed_dim)``: Linear-BatchNorm-ReLU blocks, then a
    linear output layer.

    Args:
        in_dim: input features.
        embed_dim: output size (the representation kept after training).
        hidden_dims: sizes of the hidden layers.
        dropout: dropout after each hidden block.
    """

    def __init__(self, in_dim: int, embed_dim: int = 64, hidden_dims: tuple[int, ...] = (256, 256), dropout: float = 0.0) -> None:
        super().__init__()
        if in_dim <= 0 or embed_dim <= 0:
            raise ValueError(f"in_dim and embed_dim must be positive, got {in_dim} and {embed_dim}")
        layers: list[nn.Module] = []
        previous = in_dim
        for width in hidden_dims:
            layers += [nn.Linear(previous, width), nn.BatchNorm1d(width), nn.ReLU(inplace=True)]
            if dropout:
                layers.append(nn.Dropout(dropout))
            previous = width
        layers.append(nn.Linear(previous, embed_dim))
        self.net = nn.Sequential(*layers)
        self.in_dim = in_dim
        self.embed_dim = embed_dim

    def forward(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        x = inputs["x"]
        if x.dim() != 2 or x.shape[1] != self.in_dim:
            raise ValueError(f"MLPEncoder expects x of shape (B, {self.in_dim}), got {tuple(x.shape)}")
        return self.net(x.float())
