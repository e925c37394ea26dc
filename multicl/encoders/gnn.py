"""Graph neural network encoders on PyG convolutions (optional extra ``multicl[graph]``).

``build_gnn_encoder(conv, in_dim, ...)`` builds a :class:`GNNEncoder` over the registry
``GNN_CONVS`` (gcn, gat, gin, sage). Its ``forward(inputs)`` reads a graph batch (``x``,
``edge_index``, optional ``edge_weight``, ``batch``, ``num_graphs``, ``targets``; see
:class:`multicl.modalities.graph.GraphInputs`): node-level inputs give the target nodes'
embeddings (R, embed_dim), graph-level inputs pool every layer's node states per graph (sum,
mean or max) and concatenate them (GraphCL/InfoGraph style: embed_dim = num_layers * hidden).
PyG is imported when an encoder is built, so the rest of the library works without it.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

GNN_CONVS = ("gcn", "gat", "gin", "sage")
POOLINGS = ("sum", "mean", "max")


def require_pyg() -> Any:
    try:
        import torch_geometric  # noqa: F401
        from torch_geometric import nn as pyg_nn
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("graph encoders need PyTorch Geometric: pip install 'multicl[graph]' "
                          "(torch_geometric==2.8.1, pure Python; no pyg-lib/torch-sparse needed)") from err
    return pyg_nn


def _conv(kind: str, in_dim: int, out_dim: int, heads: int) -> nn.Module:
    pyg_nn = require_pyg()
    if kind == "gcn":
        return pyg_nn.GCNConv(in_dim, out_dim)
    if kind == "gat":
        if out_dim % heads:
            raise ValueError(f"GAT: the layer width {out_dim} must be divisible by heads={heads}")
        return pyg_nn.GATConv(in_dim, out_dim // heads, heads=heads)
    if kind == "gin":
        return pyg_nn.GINConv(nn.Sequential(nn.Linear(in_dim, out_dim), nn.ReLU(), nn.Linear(out_dim, out_dim)), train_eps=False)
    if kind == "sage":
        return pyg_nn.SAGEConv(in_dim, out_dim)
    raise KeyError(f"unknown GNN convolution {kind!r}; available: {list(GNN_CONVS)}")


def _activation(name: str, width: int) -> nn.Module:
    if name == "relu":
        return nn.ReLU()
    if name == "prelu":
        return nn.PReLU(width)
    if name == "elu":
        return nn.ELU()
    if name == "identity":
        return nn.Identity()
    raise ValueError(f"activation must be relu | prelu | elu | identity, got {name!r}")


class GNNEncoder(nn.Module):
    """Stacked message passing. Args:
        conv: gcn | gat | gin | sage.
        in_dim: node feature size.
        hidden_dims: width of each layer (the last is the node embedding size).
        activation: after every layer but (with ``last_activation=False``) the last.
        batch_norm: BatchNorm1d after each layer (GIN for graph level).
        dropout: on each layer's input (supervised baselines).
        pooling: None for node-level embeddings; sum | mean | max for graph level.
        heads: GAT attention heads (concatenated).
    """

    def __init__(self, conv: str, in_dim: int, hidden_dims: tuple[int, ...] = (256, 128), activation: str = "prelu",
                 last_activation: bool = True, batch_norm: bool = False, dropout: float = 0.0, pooling: str | None = None,
                 heads: int = 4) -> None:
        super().__init__()
        # what rebuilds this module (the saved-model format reads it back; a strict reload checks it)
        self.arguments = {"conv": conv, "in_dim": int(in_dim), "hidden_dims": [int(h) for h in hidden_dims], "activation": activation,
                          "last_activation": bool(last_activation), "batch_norm": bool(batch_norm), "dropout": float(dropout),
                          "pooling": pooling, "heads": int(heads)}
        if conv not in GNN_CONVS:
            raise KeyError(f"unknown GNN convolution {conv!r}; available: {list(GNN_CONVS)}")
        if pooling is not None and pooling not in POOLINGS:
            raise ValueError(f"pooling must be None (node level) or one of {POOLINGS}, got {pooling!r}")
        if not hidden_dims:
            raise ValueError("hidden_dims needs at least one layer width")
        dims = (in_dim, *hidden_dims)
        self.convs = nn.ModuleList(_conv(conv, a, b, heads) for a, b in zip(dims[:-1], dims[1:]))
        self.norms = nn.ModuleList(nn.BatchNorm1d(b) if batch_norm else nn.Identity() for b in hidden_dims)
        count = len(hidden_dims)
        self.acts = nn.ModuleList(_activation(activation if (i < count - 1 or last_activation) else "identity", b)
                                  for i, b in enumerate(hidden_dims))
        self.dropout = nn.Dropout(dropout)
        self.kind, self.pooling = conv, pooling
        self.embed_dim = sum(hidden_dims) if pooling is not None else hidden_dims[-1]

    def node_states(self, x: torch.Tensor, edge_index: torch.Tensor, edge_weight: torch.Tensor | None = None) -> list[torch.Tensor]:
        states, h = [], x
        for conv, norm, act in zip(self.convs, self.norms, self.acts):
            h = self.dropout(h)
            if self.kind == "gcn" and edge_weight is not None:
                h = conv(h, edge_index, edge_weight)
            elif self.kind == "gat" and edge_weight is not None:
                h = conv(h, edge_index)  # GAT learns its own weights; diffusion weights only pick the edges
            else:
                h = conv(h, edge_index)
            h = act(norm(h))
            states.append(h)
        return states  # per layer (num_nodes, width)

    def forward(self, inputs: Any) -> torch.Tensor:
        states = self.node_states(inputs.x, inputs.edge_index, inputs.edge_weight)
        if self.pooling is None:
            if inputs.targets is None:
                raise ValueError("node-level encoder got graph-level inputs (no targets); build it with pooling='sum'|'mean'|'max'")
            return states[-1][inputs.targets]  # (R, D)
        if inputs.targets is not None:
            raise ValueError("graph-level encoder (pooling set) got node-level inputs; build it with pooling=None")
        return torch.cat([pool(h, inputs.batch, inputs.num_graphs, self.pooling) for h in states], dim=1)  # (G, sum widths)


def pool(h: torch.Tensor, batch: torch.Tensor, num_graphs: int, how: str) -> torch.Tensor:
    """Per-graph sum / mean / max of node states (empty graphs give 0)."""
    total = torch.zeros(num_graphs, h.shape[1], dtype=h.dtype, device=h.device).index_add_(0, batch, h)
    if how == "sum":
        return total
    if how == "mean":
        count = torch.zeros(num_graphs, dtype=h.dtype, device=h.device).index_add_(0, batch, torch.ones_like(batch, dtype=h.dtype))
        return total / count.clamp(min=1)[:, None]
    peak = torch.full((num_graphs, h.shape[1]), float("-inf"), dtype=h.dtype, device=h.device)
    peak = peak.scatter_reduce(0, batch[:, None].expand_as(h), h, "amax")
    return torch.where(torch.isfinite(peak), peak, torch.zeros_like(peak))


def build_gnn_encoder(conv: str, in_dim: int, **kwargs: Any) -> GNNEncoder:
    """``GNNEncoder(conv, in_dim, **kwargs)`` with the registry's error for an unknown name."""
    if conv not in GNN_CONVS:
        raise KeyError(f"unknown GNN convolution {conv!r}; available: {list(GNN_CONVS)}")
    return GNNEncoder(conv, in_dim, **kwargs)
