"""Adapter for dense feature vectors: SCARF corruption and Gaussian noise views.

Samples are rows of a float matrix (already preprocessed: scaled numerics, one-hot or embedded
categoricals). The tabular adapter builds on this; it is also the quickest way to train on
precomputed features of any modality.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch

from multicl.encoders.mlp import MLPEncoder
from multicl.modalities.base import Adapter
from multicl.types import TensorInputs


class VectorAdapter(Adapter):
    """Views of a feature vector.

    Args:
        marginals: the training matrix (N, F). SCARF replaces a ``corruption`` share of a
            row's features by the same features of random training rows, i.e. draws from
            each feature's empirical marginal (Bahri et al. 2022).
        corruption: share of features replaced in each view (0 disables SCARF).
        noise_std: Gaussian noise added to every feature (in scaled units).
        labels: optional per-row labels, exposed as metadata (for supervised masks/SupCon).
        positive: ``view`` (two views of one row: self-supervised) or ``same_label`` (the
            positive is a view of another row with the row's label: supervised pairs).
        embed_dim / hidden_dims: the MLP encoder ``build_encoder`` returns.
    """

    def __init__(
        self,
        marginals: np.ndarray,
        corruption: float = 0.3,
        noise_std: float = 0.0,
        labels: Sequence[int] | None = None,
        embed_dim: int = 64,
        hidden_dims: tuple[int, ...] = (256, 256),
        positive: str = "view",
    ) -> None:
        marginals = np.asarray(marginals, dtype=np.float32)
        if marginals.ndim != 2 or marginals.shape[0] == 0:
            raise ValueError(f"marginals must be a non-empty (N, F) matrix, got shape {marginals.shape}")
        if not np.isfinite(marginals).all():
            raise ValueError("marginals contain NaN or inf: impute or drop those values before training")
        if not 0.0 <= corruption < 1.0:
            raise ValueError(f"corruption must be in [0, 1), got {corruption}")
        self.marginals = marginals
        self.corruption = corruption
        self.noise_std = noise_std
        self.labels = None if labels is None else np.asarray(labels)
        if self.labels is not None and self.labels.shape != (marginals.shape[0],):
            raise ValueError(f"labels need one value per row ({marginals.shape[0]}), got shape {self.labels.shape}")
        if positive not in ("view", "same_label"):
            raise ValueError(f"positive must be 'view' or 'same_label', got {positive!r}")
        if positive == "same_label" and self.labels is None:
            raise ValueError("positive='same_label' needs labels")
        self.positive = positive
        self._rows_of_label = {} if self.labels is None else {
            label: np.flatnonzero(self.labels == label) for label in np.unique(self.labels)
        }
        self.embed_dim = embed_dim
        self.hidden_dims = hidden_dims

    @property
    def in_dim(self) -> int:
        return self.marginals.shape[1]

    def _view(self, row: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        out = row.copy()
        if self.corruption:
            mask = rng.random(out.shape[0]) < self.corruption
            donors = rng.integers(0, self.marginals.shape[0], size=int(mask.sum()))
            out[mask] = self.marginals[donors, np.flatnonzero(mask)]
        if self.noise_std:
            out = out + rng.normal(0.0, self.noise_std, size=out.shape).astype(np.float32)
        return out

    def views(self, sample: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        row = self.marginals[int(sample)]
        if self.positive == "same_label":
            partner = rng.choice(self._rows_of_label[self.labels[int(sample)]])
            return self._view(row, rng), self._view(self.marginals[partner], rng)
        return self._view(row, rng), self._view(row, rng)

    def mining_corpus(self, samples: Sequence[int]) -> np.ndarray:
        """What the hard-negative miner embeds: the clean feature rows, one array."""
        return self.marginals[np.asarray(samples, dtype=np.int64)]

    def meta(self, sample: int, index: int) -> dict[str, int]:
        meta = {"instance_id": int(sample), "group_id": int(sample)}
        if self.labels is not None:
            meta["label"] = int(self.labels[int(sample)])
        return meta

    def prepare_inputs(self, raw: Sequence[np.ndarray] | np.ndarray) -> TensorInputs:
        x = np.asarray(raw, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != self.in_dim:
            raise ValueError(f"expected rows of {self.in_dim} features, got shape {x.shape}")
        return TensorInputs({"x": torch.from_numpy(x)})

    def build_encoder(self) -> MLPEncoder:
        return MLPEncoder(self.in_dim, self.embed_dim, self.hidden_dims)


def encode_rows(encoder: torch.nn.Module, x: np.ndarray, batch_size: int = 4096, device: str | torch.device = "cpu") -> np.ndarray:
    """Embed a feature matrix with ``encoder`` in eval mode, no gradients -> float32 (N, D)."""
    was_training = encoder.training
    encoder.eval()
    out = []
    try:
        with torch.no_grad():
            for start in range(0, len(x), batch_size):
                chunk = torch.from_numpy(np.asarray(x[start : start + batch_size], dtype=np.float32)).to(device)
                out.append(encoder(TensorInputs({"x": chunk})).float().cpu().numpy())
    finally:
        encoder.train(was_training)
    return np.concatenate(out) if out else np.zeros((0, getattr(encoder, "embed_dim", 0)), dtype=np.float32)
