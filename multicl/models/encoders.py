"""Encoder classes a saved model may name, and how to read a built encoder's constructor arguments.

A saved model's ``multicl.json`` names its encoder class and the arguments that rebuild it
(``{"class": "TCNEncoder", "args": {"in_channels": 3, ...}}``). The encoders do not record their
arguments, so each class here has a ``describe`` that reads them back from the module's own
structure (layer widths, kernel sizes, heads, frontend settings). :func:`describe_encoder` checks
its answer at once: the rebuilt module must accept the state dict strictly, so a save that could
not be loaded again fails while saving, not months later.
"""
from __future__ import annotations

from typing import Any, Callable

import torch
from torch import nn

from multicl.encoders.audio import AudioCNNEncoder
from multicl.encoders.audio_fusion import AudioStatsFusionEncoder
from multicl.encoders.gnn import GNNEncoder
from multicl.encoders.sequence import SequenceTransformerEncoder, TCNEncoder
from multicl.encoders.tabular import FeatureTokenTransformer, TabularMLPEncoder
from multicl.encoders.tabular_fusion import TableRawFusionEncoder
from multicl.encoders.series_fusion import SeriesRawFusionEncoder
from multicl.encoders.series_resampled_join import SeriesResampledJoinEncoder
from multicl.encoders.ts2vec import TS2VecEncoder


def _dropout_p(module: nn.Module) -> float:
    return next((float(m.p) for m in module.modules() if isinstance(m, nn.Dropout)), 0.0)


def _describe_tabular_mlp(e: TabularMLPEncoder) -> dict[str, Any]:
    linears = [m for m in e.mlp.net if isinstance(m, nn.Linear)]
    return {"numeric_width": e.numeric_width, "cardinalities": list(e.cardinalities), "embed_dim": e.embed_dim,
            "hidden_dims": [m.out_features for m in linears[:-1]], "dropout": _dropout_p(e.mlp)}


def _describe_ft_transformer(e: FeatureTokenTransformer) -> dict[str, Any]:
    layer = e.transformer.layers[0]
    return {"numeric_width": e.numeric_width, "cardinalities": [t.num_embeddings for t in e.embeddings], "embed_dim": e.embed_dim,
            "token_dim": int(e.cls.shape[-1]), "depth": len(e.transformer.layers), "heads": int(layer.self_attn.num_heads),
            "dropout": float(layer.dropout.p)}


def _describe_table_fusion(e: TableRawFusionEncoder) -> dict[str, Any]:
    inner = ENCODER_CLASSES[e.encoder_class][1](e.encoder)
    return {"encoder_class": e.encoder_class, "encoder_args": inner, "weight": e.weight}


def _describe_audio_cnn(e: AudioCNNEncoder) -> dict[str, Any]:
    return e.constructor_arguments()


def _describe_audio_fusion(e: AudioStatsFusionEncoder) -> dict[str, Any]:
    return {"cnn": _describe_audio_cnn(e.cnn), "stats_cmvn": e.arguments["stats_cmvn"], "weight": e.weight,
            **({"whiten_power": e.whiten_power} if e.whiten_power > 0 else {})}


def _describe_tcn(e: TCNEncoder) -> dict[str, Any]:
    first = e.tcn.blocks[0]
    return {"in_channels": first.conv1.in_channels, "embed_dim": e.embed_dim, "channels": first.conv1.out_channels,
            "levels": len(e.tcn.blocks), "kernel_size": first.conv1.kernel_size[0], "dropout": float(first.dropout.p)}


def _describe_series_transformer(e: SequenceTransformerEncoder) -> dict[str, Any]:
    layer = e.transformer.layers[0]
    return {"in_channels": e.tokens.in_features // e.patch, "embed_dim": e.embed_dim, "d_model": e.tokens.out_features,
            "heads": int(layer.self_attn.num_heads), "layers": len(e.transformer.layers), "patch": e.patch,
            "dropout": float(layer.dropout.p)}


def _describe_ts2vec(e: TS2VecEncoder) -> dict[str, Any]:
    return e.constructor_arguments()


def _describe_series_fusion(e: SeriesRawFusionEncoder) -> dict[str, Any]:
    return {"ts2vec": _describe_ts2vec(e.ts2vec), "length": e.length, "weight": e.weight, "unit_rows": e.unit_rows}


def _describe_series_join(e: SeriesResampledJoinEncoder) -> dict[str, Any]:
    return {k: v for k, v in e.arguments.items()} | {"as_is": _describe_series_fusion(e.as_is), "resampled": _describe_series_fusion(e.resampled)}


def _describe_gnn(e: GNNEncoder) -> dict[str, Any]:
    return dict(e.arguments)


# class name -> (class, describe). A new encoder class becomes savable by one entry here.
ENCODER_CLASSES: dict[str, tuple[type[nn.Module], Callable[[Any], dict[str, Any]]]] = {
    "TabularMLPEncoder": (TabularMLPEncoder, _describe_tabular_mlp),
    "FeatureTokenTransformer": (FeatureTokenTransformer, _describe_ft_transformer),
    "TableRawFusionEncoder": (TableRawFusionEncoder, _describe_table_fusion),
    "AudioCNNEncoder": (AudioCNNEncoder, _describe_audio_cnn),
    "AudioStatsFusionEncoder": (AudioStatsFusionEncoder, _describe_audio_fusion),
    "TCNEncoder": (TCNEncoder, _describe_tcn),
    "SequenceTransformerEncoder": (SequenceTransformerEncoder, _describe_series_transformer),
    "TS2VecEncoder": (TS2VecEncoder, _describe_ts2vec),
    "SeriesRawFusionEncoder": (SeriesRawFusionEncoder, _describe_series_fusion),
    "SeriesResampledJoinEncoder": (SeriesResampledJoinEncoder, _describe_series_join),
    "GNNEncoder": (GNNEncoder, _describe_gnn),
}


def build_encoder(name: str, args: dict[str, Any]) -> nn.Module:
    if name not in ENCODER_CLASSES:
        raise ValueError(f"the saved model names encoder class {name!r}, which this multicl does not know; "
                         f"known: {sorted(ENCODER_CLASSES)} (upgrade multicl, or re-save the model with a known encoder)")
    cls = ENCODER_CLASSES[name][0]
    args = {k: tuple(v) if isinstance(v, list) and k in ("hidden_dims", "channels") else v for k, v in args.items()}
    return cls(**args)


def describe_encoder(encoder: nn.Module) -> tuple[str, dict[str, Any]]:
    """``(class name, constructor args)`` of a built encoder, checked by a strict rebuild."""
    name = type(encoder).__name__
    if name not in ENCODER_CLASSES or type(encoder) is not ENCODER_CLASSES[name][0]:
        raise TypeError(f"cannot save an encoder of class {type(encoder).__name__}: the model format knows {sorted(ENCODER_CLASSES)} "
                        f"(add it to multicl.models.encoders.ENCODER_CLASSES with a describe function)")
    args = ENCODER_CLASSES[name][1](encoder)
    rebuilt = build_encoder(name, args)
    try:
        rebuilt.load_state_dict(weights_of(encoder), strict=True)
    except RuntimeError as err:  # pragma: no cover - a describe function out of date with its class
        raise RuntimeError(f"{name}: the arguments read back from the module {args} do not rebuild it: {err}") from None
    return name, args


def weights_of(encoder: nn.Module) -> dict[str, torch.Tensor]:
    """The state dict as contiguous CPU tensors (what safetensors stores)."""
    return {k: v.detach().contiguous().cpu() for k, v in encoder.state_dict().items()}


def fuse_table_encoder(encoder: nn.Module, weight: float = 1.0) -> TableRawFusionEncoder:
    """A :class:`TableRawFusionEncoder` holding a copy of the trained table ``encoder``'s weights, on its device
    (here, not in the encoder's module: reading the constructor arguments back is this module's job)."""
    name, args = describe_encoder(encoder)
    fused = TableRawFusionEncoder(name, args, weight)
    fused.encoder.load_state_dict(encoder.state_dict())
    return fused.to(next(encoder.parameters()).device)
