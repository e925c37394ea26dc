"""A table encoder's embedding joined with the row's own preprocessed features.

On connection records a self-supervised embedding alone is below the raw features, while the two
joined beat both (docs/security.md): the security recipe's headline probe is ``[unit(z), unit(raw)]``.
This encoder makes that representation the saved model's own, so ``EmbeddingModel.encode`` and an
index built on it give what the recipe measured: ``[unit(encoder(x)), weight * unit(raw(x))]`` with
``raw(x)`` = the scaled numerics and a one-hot of every categorical column (what the raw-feature
baselines see). Its cosine is ``(cos_z + weight^2 cos_raw) / (1 + weight^2)`` after unit-normalisation;
a standardised linear probe does not depend on ``weight``, a kNN search does.
Inputs as every table encoder: ``{"numeric": (B, F_num) float, "categorical": (B, F_cat) int}``.
"""
from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import nn

from multicl.encoders.tabular import FeatureTokenTransformer, TabularMLPEncoder

TABLE_ENCODERS: dict[str, type[nn.Module]] = {"TabularMLPEncoder": TabularMLPEncoder, "FeatureTokenTransformer": FeatureTokenTransformer}


def raw_row_features(numeric: torch.Tensor, categorical: torch.Tensor | None, cardinalities: Sequence[int]) -> torch.Tensor:
    """(B, F_num) scaled numerics and (B, F_cat) category indices -> (B, F_num + sum(cardinalities)) float32:
    the numerics followed by one one-hot block per categorical column."""
    blocks = [numeric.float()]
    for j, card in enumerate(cardinalities):
        blocks.append(nn.functional.one_hot(categorical[:, j].long(), int(card)).float())
    return torch.cat(blocks, dim=1)


class TableRawFusionEncoder(nn.Module):
    """``encoder_class`` / ``encoder_args``: the wrapped table encoder (one of :data:`TABLE_ENCODERS`; its
    weights come with the state dict); ``weight``: the raw block's scale. ``embed_dim`` = the encoder's +
    ``numeric_width + sum(cardinalities)``. Build one around a trained encoder with
    :func:`multicl.models.encoders.fuse_table_encoder`."""

    def __init__(self, encoder_class: str, encoder_args: dict[str, Any], weight: float = 1.0) -> None:
        super().__init__()
        if encoder_class not in TABLE_ENCODERS:
            raise ValueError(f"encoder_class {encoder_class!r}: one of {sorted(TABLE_ENCODERS)}")
        if weight <= 0:
            raise ValueError(f"weight must be positive (the raw block's scale), got {weight}")
        args = {k: tuple(v) if isinstance(v, list) and k == "hidden_dims" else v for k, v in encoder_args.items()}
        self.encoder = TABLE_ENCODERS[encoder_class](**args)
        self.encoder_class, self.weight = encoder_class, float(weight)
        self.numeric_width = int(encoder_args["numeric_width"])
        self.cardinalities = [int(c) for c in encoder_args["cardinalities"]]
        self.raw_width = self.numeric_width + sum(self.cardinalities)
        self.embed_dim = int(self.encoder.embed_dim) + self.raw_width

    def forward(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        learned = nn.functional.normalize(self.encoder(inputs).float(), dim=-1)
        raw = raw_row_features(inputs["numeric"], inputs.get("categorical"), self.cardinalities)
        return torch.cat([learned, self.weight * nn.functional.normalize(raw, dim=-1)], dim=-1)


def learned_table_encoder(module: nn.Module) -> nn.Module:
    """The trained table encoder inside a saved security model: the wrapped one of a :class:`TableRawFusionEncoder`
    (``--probe-features concat``), else ``module`` itself (``--probe-features embedding``)."""
    return module.encoder if isinstance(module, TableRawFusionEncoder) else module
