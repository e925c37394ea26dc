"""A TS2Vec embedding, standardised, joined with the series' own resampled values.

TS2Vec's instance embedding is a max over time steps: its coordinates share a large common
offset, so cosine similarities crowd together and a kNN search over it is its weakest probe; the
raw series (standardised, resampled to one length: what a euclidean 1-NN compares) keeps the
shape information a nearest-neighbour search needs on small sets (docs/series.md). The fused
embedding is ``[unit((ts2vec(x) - mu) / sigma), weight * unit(resample(x, length))]`` with ``mu`` /
``sigma`` fitted on the training series' embeddings; its cosine is ``(cos_ts2vec + weight^2
cos_raw) / (1 + weight^2)`` after unit-normalisation, so ``weight`` sets how much the raw values count;
``weight = 0`` keeps the z-scored TS2Vec block alone (``unit((ts2vec(x) - mu) / sigma)``, no raw block), and with
``unit_rows=False`` too it is TS2Vec's embedding standardised per coordinate, ``(ts2vec(x) - mu) / sigma``: the sequence
recipe's saved space since the eleventh session (cosine neighbours as the z-scored block's, a standardising linear
probe sees what it saw on TS2Vec's own output; ``benchmarks/results/series_standardise``).
Inputs as every series encoder: ``{"values": (B, T, C) standardised, zero-padded, "lengths": (B,)}``;
padding never changes the result (each series is resampled from its own valid steps).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from multicl.encoders.ts2vec import TS2VecEncoder


def resample_valid_steps(values: torch.Tensor, lengths: torch.Tensor, length: int) -> torch.Tensor:
    """(B, T, C) zero-padded, valid lengths (B,) -> (B, length * C): each row's valid steps linearly
    interpolated to ``length`` steps (end points kept, as ``numpy.interp`` on [0, 1]), flattened step-major."""
    lengths = lengths.to(values.device).clamp(min=1)
    out = values.new_zeros((values.shape[0], length * values.shape[2]), dtype=torch.float32)
    for n in torch.unique(lengths).tolist():  # rows of one length in one call (batches come sorted by length)
        rows = torch.nonzero(lengths == n).flatten()
        steps = values[rows, :n].float().transpose(1, 2)  # (R, C, n)
        if n == 1:
            resampled = steps.expand(-1, -1, length)
        else:
            resampled = nn.functional.interpolate(steps, size=length, mode="linear", align_corners=True)
        out[rows] = resampled.transpose(1, 2).reshape(len(rows), -1)
    return out


class SeriesRawFusionEncoder(nn.Module):
    """``ts2vec``: the :class:`TS2VecEncoder` constructor arguments (its weights come with the state dict);
    ``length``: the steps every series is resampled to (the longest training series); ``weight``: the raw
    block's scale (0: no raw block); ``unit_rows``: scale the z-scored block to unit length (``False`` only at
    weight 0, where nothing is joined to it). ``embed_dim`` = TS2Vec's + ``length`` x channels (TS2Vec's alone at weight 0). :meth:`fit_statistics` sets ``mu`` /
    ``sigma`` from the training series' TS2Vec embeddings; build one around a trained encoder with :meth:`wrap`."""

    def __init__(self, ts2vec: dict[str, Any], length: int, weight: float = 0.5, unit_rows: bool = True) -> None:
        super().__init__()
        if weight < 0:
            raise ValueError(f"weight must be >= 0 (the raw block's scale; 0: no raw block), got {weight}")
        if not unit_rows and weight > 0:
            raise ValueError(f"unit_rows=False needs weight 0: joined blocks are weighed as unit vectors (got weight {weight})")
        if length < 2:
            raise ValueError(f"length must be at least 2 steps, got {length}")
        self.arguments = {"ts2vec": dict(ts2vec), "length": int(length), "weight": float(weight), "unit_rows": bool(unit_rows)}
        self.ts2vec = TS2VecEncoder(**ts2vec)
        self.register_buffer("embedding_mean", torch.zeros(self.ts2vec.embed_dim))
        self.register_buffer("embedding_std", torch.ones(self.ts2vec.embed_dim))
        self.length, self.weight, self.unit_rows = int(length), float(weight), bool(unit_rows)
        self.embed_dim = self.ts2vec.embed_dim + (self.length * int(ts2vec["in_channels"]) if self.weight > 0 else 0)

    @classmethod
    def wrap(cls, encoder: TS2VecEncoder, length: int, weight: float = 0.5, unit_rows: bool = True) -> "SeriesRawFusionEncoder":
        """A fusion encoder holding a copy of the trained ``encoder``'s weights (statistics not yet fitted)."""
        fused = cls(encoder.constructor_arguments(), length, weight, unit_rows)
        fused.ts2vec.load_state_dict(encoder.state_dict())
        return fused.to(next(encoder.parameters()).device)

    @torch.no_grad()
    def fit_statistics(self, embeddings: np.ndarray | torch.Tensor) -> "SeriesRawFusionEncoder":
        """``mu`` / ``sigma`` (per coordinate, population std) from the training series' TS2Vec embeddings (N, D)."""
        z = torch.as_tensor(np.asarray(embeddings), dtype=torch.float32)
        if z.ndim != 2 or z.shape[1] != self.ts2vec.embed_dim or len(z) < 2:
            raise ValueError(f"fit_statistics needs (N >= 2, {self.ts2vec.embed_dim}) TS2Vec embeddings, got {tuple(z.shape)}")
        self.embedding_mean.copy_(z.mean(0))
        self.embedding_std.copy_(z.std(0, unbiased=False).clamp(min=1e-6))
        return self

    def forward(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        standardised = (self.ts2vec(inputs).float() - self.embedding_mean) / self.embedding_std
        if not self.unit_rows:
            return standardised
        learned = nn.functional.normalize(standardised, dim=-1)
        if self.weight == 0:
            return learned
        lengths = inputs.get("lengths", torch.full((inputs["values"].shape[0],), inputs["values"].shape[1]))
        raw = resample_valid_steps(inputs["values"], lengths, self.length)
        return torch.cat([learned, self.weight * nn.functional.normalize(raw, dim=-1)], dim=-1)
