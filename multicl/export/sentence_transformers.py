"""Export a multicl text encoder as a folder that ``SentenceTransformer(path)`` loads.

The folder is built with sentence-transformers' own modules (Transformer -> [layer pooling]
-> Pooling -> [Dense = the backbone's pooler] -> [Normalize]) so its format is whatever the
installed sentence-transformers writes, and ``SentenceTransformer(path).encode`` gives our
``EmbeddingModel.encode`` results (tested to 1e-5). Poolings map as:

    mean               Pooling("mean")
    cls_before_pooler  Pooling("cls")
    cls                Pooling("cls") + Dense(pooler weights, Tanh)   (BERT's pooler)
    first_last_avg     WeightedLayerPooling(layer_start=1, weights 1,0,...,0,1) + Pooling("mean")
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

import torch
from torch import nn

from multicl.encoders.text import TextEncoder


def export_sentence_transformer(
    encoder: TextEncoder, tokenizer, folder: Path, max_length: int, normalize: bool
) -> None:
    """Write the ST folder into ``folder`` (an existing, empty folder)."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import (
        Dense,
        Normalize,
        Pooling,
        Transformer,
        WeightedLayerPooling,
    )

    backbone = encoder.backbone
    dim = encoder.embed_dim
    with tempfile.TemporaryDirectory() as tmp:
        config = backbone.config
        previous = getattr(config, "output_hidden_states", False)
        config.output_hidden_states = encoder.pooling == "first_last_avg"
        try:
            backbone.save_pretrained(tmp)
        finally:
            config.output_hidden_states = previous
        tokenizer.save_pretrained(tmp)
        modules: list[nn.Module] = [Transformer(tmp, max_seq_length=max_length)]
        if encoder.pooling == "first_last_avg":
            layers = int(config.num_hidden_layers)
            weights = torch.zeros(layers)
            weights[0] = weights[-1] = 1.0
            modules.append(
                WeightedLayerPooling(dim, num_hidden_layers=layers, layer_start=1, layer_weights=nn.Parameter(weights))
            )
            modules.append(Pooling(dim, pooling_mode="mean"))
        elif encoder.pooling == "mean":
            modules.append(Pooling(dim, pooling_mode="mean"))
        else:
            modules.append(Pooling(dim, pooling_mode="cls"))
            pooler = getattr(backbone, "pooler", None)
            if encoder.pooling == "cls" and pooler is not None:
                dense = pooler.dense
                modules.append(
                    Dense(
                        dim,
                        dense.out_features,
                        activation_function=nn.Tanh(),
                        init_weight=dense.weight.detach().clone().cpu(),
                        init_bias=dense.bias.detach().clone().cpu(),
                    )
                )
        if normalize:
            modules.append(Normalize())
        model = SentenceTransformer(modules=modules, device="cpu")
        model.save(str(folder))
    (folder / "multicl.json").write_text(
        json.dumps({"pooling": encoder.pooling, "max_length": max_length, "normalize": normalize, "format": 1}, indent=2)
    )
