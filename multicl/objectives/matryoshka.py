"""Matryoshka representation learning: one objective on nested prefixes of the embedding."""
from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import nn

DEFAULT_DIMS = (384, 256, 128, 64)


class Matryoshka(nn.Module):
    """``sum_k weight_k * objective(anchors[:, :d_k], candidates[:, :d_k], ...)``.

    Wraps any objective (by instance, or by registry name with ``objective_kwargs``); every
    other argument (masks, ``labels``, ``scores``) is passed through to each prefix. The first
    ``d`` coordinates are then an embedding on their own: ``EmbeddingModel.encode(...,
    truncate_dim=d)`` keeps them (and re-normalises when asked).
    ``dims``: the prefix sizes; explicit ones must not exceed the embedding size. Left ``None``
    (384, 256, 128, 64), the sizes above the embedding's are replaced by the full size, once.
    ``weights``: one per dim (default 1 each).
    Relations: sentence-transformers' MatryoshkaLoss (same sum of weighted prefix losses).
    Reference: Kusupati et al. Matryoshka Representation Learning. NeurIPS 2022.
    """

    def __init__(
        self,
        objective: nn.Module | str = "info_nce",
        dims: Sequence[int] | None = None,
        weights: Sequence[float] | None = None,
        objective_kwargs: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if isinstance(objective, str):
            from multicl.objectives import build_objective

            objective = build_objective(objective, **(objective_kwargs or {}))
        elif objective_kwargs:
            raise ValueError("objective_kwargs go with an objective given by name")
        if isinstance(objective, Matryoshka):
            raise ValueError("Matryoshka of a Matryoshka: give the inner objective once with all dims")
        self.objective = objective
        self.strict = dims is not None
        dims = tuple(int(d) for d in (DEFAULT_DIMS if dims is None else dims))
        if not dims or any(d <= 0 for d in dims) or len(set(dims)) != len(dims):
            raise ValueError(f"dims must be distinct positive sizes, got {dims}")
        weights = tuple(float(w) for w in weights) if weights is not None else (1.0,) * len(dims)
        if len(weights) != len(dims) or any(w < 0 for w in weights) or sum(weights) == 0:
            raise ValueError(f"weights must be one non-negative value per dim ({len(dims)}), not all 0; got {weights}")
        self.dims, self.weights = dims, weights
        # read by the learners
        self.two_view = bool(getattr(objective, "two_view", False))
        self.uses_labels = bool(getattr(objective, "uses_labels", False))
        self.uses_scores = bool(getattr(objective, "uses_scores", False))

    def prefixes(self, size: int) -> list[tuple[int, float]]:
        """(dim, weight) pairs trained for an embedding of ``size`` coordinates."""
        if self.strict:
            too_big = [d for d in self.dims if d > size]
            if too_big:
                raise ValueError(f"Matryoshka dims {too_big} exceed the embedding size {size}")
            return list(zip(self.dims, self.weights))
        out: dict[int, float] = {}
        for d, w in zip(self.dims, self.weights):
            out.setdefault(min(d, size), w)
        return list(out.items())

    @property
    def temperature(self):  # the trainer logs the inner objective's temperature
        return getattr(self.objective, "temperature", None)

    def forward(self, anchors: torch.Tensor, candidates: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        total = None
        for d, w in self.prefixes(anchors.shape[-1]):
            if w == 0:
                continue
            loss = w * self.objective(anchors[..., :d], candidates[..., :d], *args, **kwargs)
            total = loss if total is None else total + loss
        return total
