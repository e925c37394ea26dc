"""Tabular records: views of preprocessed rows (SCARF corruption, feature masking, noise).

Samples are row indices into a :class:`~multicl.data.table_preprocessing.TransformedTable`
(scaled numerics + categorical codes) built by a fitted ``TablePreprocessor``; the encoder
inputs are ``{"numeric": (B, F_num) float32, "categorical": (B, F_cat) int64}``.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch

from multicl.data.table_preprocessing import MISSING, TablePreprocessor, TransformedTable
from multicl.encoders.tabular import FeatureTokenTransformer, TabularMLPEncoder
from multicl.modalities.base import Adapter
from multicl.types import TensorInputs

ENCODERS = ("mlp", "ft_transformer")


class TabularAdapter(Adapter):
    """Views of table rows for contrastive training.

    Args:
        table: the preprocessed training rows (also the marginals SCARF draws from).
        preprocessor: the fitted preprocessor (gives cardinalities; saved with the model).
        corruption: share of features replaced by the same feature of a random training row
            (a draw from its empirical marginal; SCARF, Bahri et al. 2022).
        mask_rate: share of features blanked (numeric -> 0, the training median after scaling
            when quantile-scaled; categorical -> the "missing" code).
        noise_std: Gaussian noise on scaled numerics.
        labels / groups: optional per-row labels (supervised masks, SupCon, same-label
            positives) and group ids (rows that must never be each other's negatives).
        positive: ``view`` (two views of one row) or ``same_label`` (a view of another row
            with the same label).
        encoder: ``mlp`` (categorical embeddings + MLP) or ``ft_transformer``.
    """

    def __init__(self, table: TransformedTable, preprocessor: TablePreprocessor, corruption: float = 0.3,
                 mask_rate: float = 0.0, noise_std: float = 0.0, labels: Sequence[int] | None = None,
                 groups: Sequence[int] | None = None, positive: str = "view", encoder: str = "mlp",
                 embed_dim: int = 64, hidden_dims: tuple[int, ...] = (256, 256)) -> None:
        if len(table) == 0:
            raise ValueError("the training table is empty")
        for name, rate in (("corruption", corruption), ("mask_rate", mask_rate)):
            if not 0.0 <= rate < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {rate}")
        if encoder not in ENCODERS:
            raise ValueError(f"encoder must be one of {ENCODERS}, got {encoder!r}")
        if positive not in ("view", "same_label"):
            raise ValueError(f"positive must be 'view' or 'same_label', got {positive!r}")
        self.table, self.preprocessor = table, preprocessor
        self.corruption, self.mask_rate, self.noise_std = corruption, mask_rate, noise_std
        self.labels = None if labels is None else np.asarray(labels)
        self.groups = None if groups is None else np.asarray(groups)
        for name, values in (("labels", self.labels), ("groups", self.groups)):
            if values is not None and values.shape != (len(table),):
                raise ValueError(f"{name} need one value per row ({len(table)}), got shape {values.shape}")
        if positive == "same_label" and self.labels is None:
            raise ValueError("positive='same_label' needs labels")
        self.positive = positive
        self._rows_of_label = {} if self.labels is None else {v: np.flatnonzero(self.labels == v) for v in np.unique(self.labels)}
        self.encoder_kind, self.embed_dim, self.hidden_dims = encoder, embed_dim, hidden_dims

    # -- views -----------------------------------------------------------------------------------
    def _view(self, row: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        numeric = self.table.numeric[row].copy()
        categorical = self.table.categorical[row].copy()
        n_num, n_cat = numeric.shape[0], categorical.shape[0]
        if self.corruption:
            hit = rng.random(n_num + n_cat) < self.corruption
            donors = rng.integers(0, len(self.table), size=n_num + n_cat)
            num_hit, cat_hit = np.flatnonzero(hit[:n_num]), np.flatnonzero(hit[n_num:])
            numeric[num_hit] = self.table.numeric[donors[num_hit], num_hit]
            categorical[cat_hit] = self.table.categorical[donors[n_num + cat_hit], cat_hit]
        if self.mask_rate:
            hit = rng.random(n_num + n_cat) < self.mask_rate
            numeric[hit[:n_num]] = 0.0
            categorical[hit[n_num:]] = MISSING
        if self.noise_std:
            numeric = numeric + rng.normal(0.0, self.noise_std, size=n_num).astype(np.float32)
        return numeric, categorical

    def views(self, sample: int, rng: np.random.Generator):
        row = int(sample)
        partner = row
        if self.positive == "same_label":
            partner = int(rng.choice(self._rows_of_label[self.labels[row]]))
        return self._view(row, rng), self._view(partner, rng)

    def meta(self, sample: int, index: int) -> dict[str, int]:
        row = int(sample)
        meta = {"instance_id": row, "group_id": int(self.groups[row]) if self.groups is not None else row}
        if self.labels is not None:
            meta["label"] = int(self.labels[row])
        return meta

    def views_to_inputs(self, views: Sequence[tuple[np.ndarray, np.ndarray]]) -> TensorInputs:
        """(numeric, categorical) views -> stacked inputs."""
        return TensorInputs({"numeric": torch.from_numpy(np.stack([v[0] for v in views])),
                             "categorical": torch.from_numpy(np.stack([v[1] for v in views]))})

    # -- encoding --------------------------------------------------------------------------------
    def prepare_inputs(self, raw: TransformedTable) -> TensorInputs:
        if not isinstance(raw, TransformedTable):
            raise TypeError(f"expected a TransformedTable (preprocessor.transform(frame)), got {type(raw).__name__}")
        return TensorInputs({"numeric": torch.from_numpy(np.ascontiguousarray(raw.numeric)),
                             "categorical": torch.from_numpy(np.ascontiguousarray(raw.categorical))})

    def mining_corpus(self, samples: Sequence[int]) -> TransformedTable:
        return self.table[np.asarray(samples, dtype=np.int64)]

    def build_encoder(self) -> torch.nn.Module:
        width, cards = self.preprocessor.numeric_width, self.preprocessor.cardinalities
        if self.encoder_kind == "ft_transformer":
            return FeatureTokenTransformer(width, cards, self.embed_dim)
        return TabularMLPEncoder(width, cards, self.embed_dim, self.hidden_dims)


def encode_table(encoder: torch.nn.Module, table: TransformedTable, batch_size: int = 4096,
                 device: str | torch.device = "cpu") -> np.ndarray:
    """Embed preprocessed rows in eval mode without gradients -> float32 (N, D)."""
    was_training = encoder.training
    encoder.eval()
    out = []
    try:
        with torch.no_grad():
            for start in range(0, len(table), batch_size):
                part = table[slice(start, start + batch_size)]
                inputs = TensorInputs({"numeric": torch.from_numpy(part.numeric), "categorical": torch.from_numpy(part.categorical)}).to(device)
                out.append(encoder(inputs).float().cpu().numpy())
    finally:
        encoder.train(was_training)
    return np.concatenate(out) if out else np.zeros((0, getattr(encoder, "embed_dim", 0)), dtype=np.float32)
