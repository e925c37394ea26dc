"""The two recommendation towers: items (id embedding + frozen text embedding) and users
(pooled history of item embeddings).

Inputs are :class:`~multicl.types.inputs.TensorInputs`: the item tower reads ``item`` (N,)
item indices; the user tower reads ``history`` (N, L) item indices, right-padded with -1 (the
most recent last). Outputs are (N, embed_dim); objectives compare them by cosine.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn
import torch.nn.functional as F


class ItemEncoder(nn.Module):
    """``id_embedding[item] * known[item] + Linear(text[item])``.

    Args:
        num_items: items in the catalogue (cold ones included).
        embed_dim: output width.
        text_embeddings: (num_items, T) frozen text embeddings (None: ids only).
        known_items: bool (num_items,): items seen in training; the others' id embedding is 0, so
            a cold item is scored through its text alone.
        id_dropout: training-time probability of zeroing a row's id embedding (teaches the text
            path to stand alone, for cold items).
    """

    def __init__(self, num_items: int, embed_dim: int = 64, text_embeddings: torch.Tensor | None = None,
                 known_items: torch.Tensor | None = None, id_dropout: float = 0.0, use_ids: bool = True) -> None:
        super().__init__()
        if text_embeddings is None and not use_ids:
            raise ValueError("an item tower needs ids, text embeddings or both")
        self.embed_dim = embed_dim
        self.id_dropout = id_dropout
        self.ids = nn.Embedding(num_items, embed_dim) if use_ids else None
        if self.ids is not None:
            nn.init.normal_(self.ids.weight, std=0.1)
        known = torch.ones(num_items, dtype=torch.bool) if known_items is None else known_items.bool()
        self.register_buffer("known", known, persistent=True)
        if text_embeddings is not None:
            self.register_buffer("text", F.normalize(text_embeddings.float(), dim=-1), persistent=True)
            self.text_proj = nn.Linear(self.text.shape[1], embed_dim)
        else:
            self.text, self.text_proj = None, None

    def table(self) -> torch.Tensor:
        """Every item's embedding (num_items, embed_dim); in training, ``id_dropout`` of the
        items lose their id part for this forward pass."""
        out = 0
        if self.ids is not None:
            keep = self.known.float()
            if self.training and self.id_dropout > 0:
                keep = keep * (torch.rand(keep.shape, device=keep.device) >= self.id_dropout).float()
            out = self.ids.weight * keep.unsqueeze(-1)
        if self.text_proj is not None:
            out = out + self.text_proj(self.text)  # (I, D): one projection of the catalogue per pass
        return out

    def embed_items(self, items: torch.Tensor) -> torch.Tensor:
        """(...,) item indices (>= 0) -> (..., embed_dim)."""
        return F.embedding(items, self.table())

    def forward(self, inputs) -> torch.Tensor:
        return self.embed_items(inputs["item"])  # (N, D)


class UserEncoder(nn.Module):
    """Pool the embeddings of a user's history items: ``mean`` or ``attention`` (a learned query
    scores each item plus a recency position embedding; softmax over the valid items), then a
    linear layer. ``items`` may be the item tower itself (shared embeddings) or its own copy."""

    def __init__(self, items: ItemEncoder, pooling: str = "mean", max_history: int = 100,
                 feature_cardinalities: Sequence[int] = ()) -> None:
        super().__init__()
        if pooling not in ("mean", "attention"):
            raise ValueError(f"pooling must be 'mean' or 'attention', got {pooling!r}")
        self.items, self.pooling, self.embed_dim = items, pooling, items.embed_dim
        # user features (age bucket, gender, occupation...): one embedding per feature, added to the
        # pooled history; code 0 = missing, its row stays 0 (a user without features is their history)
        self.features = nn.ModuleList(nn.Embedding(c + 1, self.embed_dim, padding_idx=0) for c in feature_cardinalities)
        for table in self.features:
            nn.init.normal_(table.weight, std=0.01)
            with torch.no_grad():
                table.weight[0].zero_()
        self.out = nn.Linear(self.embed_dim, self.embed_dim)
        if pooling == "attention":
            self.positions = nn.Embedding(max_history, self.embed_dim)
            nn.init.zeros_(self.positions.weight)
            self.score = nn.Linear(self.embed_dim, 1)

    def forward(self, inputs, table: torch.Tensor | None = None) -> torch.Tensor:
        """``table``: the item embeddings (I, D) when the caller holds them (serving computes
        them once); default: ``items.table()`` now."""
        history = inputs["history"]  # (N, L), -1 padded
        valid = history >= 0
        table = self.items.table() if table is None else table  # (I, D)
        if self.pooling == "mean":  # (N, I) averaging weights @ table: no (N, L, D) gather
            weights = torch.zeros(history.shape[0], table.shape[0], device=history.device)
            weights.scatter_add_(1, history.clamp(min=0), valid.float())
            pooled = (weights / weights.sum(1, keepdim=True).clamp(min=1)) @ table  # (N, D)
        else:
            z = F.embedding(history.clamp(min=0), table)  # (N, L, D)
            lengths = valid.sum(1, keepdim=True)  # (N, 1): position 0 = most recent
            recency = (lengths - 1 - torch.arange(history.shape[1], device=history.device)).clamp(min=0, max=self.positions.num_embeddings - 1)
            h = z + self.positions(recency)
            scores = self.score(torch.tanh(h)).squeeze(-1).masked_fill(~valid, torch.finfo(h.dtype).min)  # (N, L)
            weights = torch.softmax(scores, dim=1) * valid.float()
            pooled = (weights.unsqueeze(-1) * z).sum(1)
        if len(self.features):
            codes = inputs["features"] if "features" in inputs else torch.zeros(history.shape[0], len(self.features), dtype=torch.long,
                                                                                device=history.device)
            pooled = pooled + sum(table(codes[:, f]) for f, table in enumerate(self.features))
        return pooled + self.out(pooled)
