"""Embedding raw items in length order: less padding per batch for texts, clips and waveforms."""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
import torch

from multicl.types.inputs import Inputs


def encode_in_length_order(encoder: torch.nn.Module, prepare_inputs: Callable[[Sequence[Any]], Inputs], items: Sequence[Any],
                           length_of: Callable[[Any], int], batch_size: int = 128, device: str | torch.device = "cpu") -> np.ndarray:
    """Embed variable-length items (eval mode, no gradient) -> float32 (N, embed_dim) in input order.

    Items are batched in order of ``length_of(item)`` so each batch pads to a similar length;
    ``prepare_inputs(list_of_items)`` is the adapter's conversion of raw items.
    """
    order = np.argsort([length_of(x) for x in items], kind="stable")
    out = np.zeros((len(items), getattr(encoder, "embed_dim", 0)), dtype=np.float32)
    was_training = encoder.training
    encoder.eval()
    try:
        with torch.no_grad():
            for start in range(0, len(order), batch_size):
                rows = order[start : start + batch_size]
                inputs = prepare_inputs([items[i] for i in rows]).to(device)
                out[rows] = encoder(inputs).float().cpu().numpy()
    finally:
        encoder.train(was_training)
    return out
