"""Stack encoder inputs from two sources (a collated batch and mined negatives) into one batch."""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F


def concat_inputs(parts: list[dict[str, torch.Tensor]], pad_values: dict[str, float] | None = None) -> dict[str, torch.Tensor]:
    """Concatenate encoder-input dicts along rows.

    Padded inputs (token ids, masked frames) may differ in length: shorter ones are right-padded
    on dim 1 with ``pad_values[key]`` (default 0: a zero attention/padding mask marks the pad as
    absent). Every part must have the same keys.
    """
    parts = [p for p in parts if p]
    if not parts:
        return {}
    keys = set(parts[0])
    for part in parts[1:]:
        if set(part) != keys:
            raise ValueError(f"cannot stack inputs with different keys: {sorted(keys)} vs {sorted(part)}")
    pad_values = pad_values or {}
    out = {}
    for key in parts[0]:
        tensors = [p[key] for p in parts]
        if any(t.shape[2:] != tensors[0].shape[2:] for t in tensors):
            raise ValueError(f"input {key!r}: shapes {[tuple(t.shape) for t in tensors]} differ beyond dim 1")
        if tensors[0].ndim >= 2:
            length = max(t.shape[1] for t in tensors)
            value = pad_values.get(key, 0)
            tensors = [t if t.shape[1] == length else _pad_dim1(t, length, value) for t in tensors]
        out[key] = torch.cat(tensors)
    return out


def _pad_dim1(t: torch.Tensor, length: int, value: float) -> torch.Tensor:
    # F.pad lists pads from the last dim backwards: (last_lo, last_hi, ..., dim1_lo, dim1_hi)
    pads = [0, 0] * (t.ndim - 2) + [0, length - t.shape[1]]
    return F.pad(t, pads, value=value)


def encode_in_length_order(encoder: torch.nn.Module, prepare_inputs, items, length_of, batch_size: int = 128,
                           device: str | torch.device = "cpu") -> Any:
    """Embed variable-length items (eval mode, no gradient) -> float32 (N, embed_dim) in input order.

    Items are batched in order of ``length_of(item)`` so each batch pads to a similar length;
    ``prepare_inputs(list_of_items)`` is the adapter's collation of raw items.
    """
    import numpy as np

    order = np.argsort([length_of(x) for x in items], kind="stable")
    out = np.zeros((len(items), getattr(encoder, "embed_dim", 0)), dtype=np.float32)
    was_training = encoder.training
    encoder.eval()
    try:
        with torch.no_grad():
            for start in range(0, len(order), batch_size):
                rows = order[start : start + batch_size]
                inputs = prepare_inputs([items[i] for i in rows])
                out[rows] = encoder({k: v.to(device) for k, v in inputs.items()}).float().cpu().numpy()
    finally:
        encoder.train(was_training)
    return out
