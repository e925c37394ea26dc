"""Encoder inputs that know how to stack, select rows and move: the unit the learner embeds.

An :class:`Inputs` is one modality's batch of rows. The engine never slices or pads raw
tensors itself; it asks the inputs: ``type(x).cat([a, b])`` (different padded lengths are
reconciled here), ``x.select(rows)``, ``x.to(device)``, ``x.num_rows``. A modality whose rows
are ragged in another way (a set of points, a graph with node offsets) writes its own class with
the same four members and plugs in without touching the engine (see ``tests/test_toy_modality.py``).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Iterator, Protocol, Sequence, TypeVar, runtime_checkable

import torch
import torch.nn.functional as F

T = TypeVar("T", bound="Inputs")


@runtime_checkable
class Inputs(Protocol):
    """One role's encoder inputs: ``num_rows`` rows that can be stacked, selected and moved."""

    @property
    def num_rows(self) -> int: ...

    def select(self: T, rows: torch.Tensor | Sequence[int]) -> T: ...

    def to(self: T, device: torch.device | str, non_blocking: bool = False) -> T: ...

    @classmethod
    def cat(cls: type[T], parts: Sequence[T]) -> T: ...


class TensorInputs(Mapping[str, torch.Tensor]):
    """Named tensors with one row per item on dim 0 (token ids, waveforms, feature rows...).

    A tensor of 2+ dims may be right-padded on dim 1 (tokens, samples, time steps): ``cat``
    pads shorter parts with ``pad_values[key]`` (default 0; a zero attention mask or a
    ``lengths`` entry tells the encoder the pad is absent). Encoders read it like a dict:
    ``inputs["input_ids"]``, ``inputs.get("lengths")``, ``**inputs``.
    """

    def __init__(self, tensors: Mapping[str, torch.Tensor], pad_values: Mapping[str, float] | None = None) -> None:
        tensors = dict(tensors)
        if not tensors:
            raise ValueError("TensorInputs needs at least one tensor")
        rows = {key: int(t.shape[0]) for key, t in tensors.items()}
        if len(set(rows.values())) != 1:
            raise ValueError(f"every input needs the same number of rows on dim 0, got {rows}")
        self._tensors = tensors
        self.pad_values = dict(pad_values or {})

    # -- Mapping ---------------------------------------------------------------------------------
    def __getitem__(self, key: str) -> torch.Tensor:
        return self._tensors[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._tensors)

    def __len__(self) -> int:  # Mapping semantics: number of named tensors (rows: num_rows)
        return len(self._tensors)

    def __repr__(self) -> str:
        shapes = ", ".join(f"{k}={tuple(v.shape)}" for k, v in self._tensors.items())
        return f"TensorInputs({shapes})"

    # -- Inputs ----------------------------------------------------------------------------------
    @property
    def num_rows(self) -> int:
        return int(next(iter(self._tensors.values())).shape[0])

    def select(self, rows: torch.Tensor | Sequence[int]) -> "TensorInputs":
        index = torch.as_tensor(rows, dtype=torch.long)
        return TensorInputs({k: v[index.to(v.device)] for k, v in self._tensors.items()}, self.pad_values)

    def to(self, device: torch.device | str, non_blocking: bool = False) -> "TensorInputs":
        return TensorInputs({k: v.to(device, non_blocking=non_blocking) for k, v in self._tensors.items()}, self.pad_values)

    @classmethod
    def cat(cls, parts: Sequence["TensorInputs"]) -> "TensorInputs":
        parts = [p for p in parts if p is not None]
        if not parts:
            raise ValueError("nothing to concatenate")
        if len(parts) == 1:
            return parts[0]
        keys = list(parts[0])
        for part in parts[1:]:
            if set(part) != set(keys):
                raise ValueError(f"cannot stack inputs with different keys: {sorted(keys)} vs {sorted(part)}")
        pad_values = {**parts[0].pad_values}
        out = {}
        for key in keys:
            tensors = [p[key] for p in parts]
            if any(t.shape[2:] != tensors[0].shape[2:] for t in tensors):
                raise ValueError(f"input {key!r}: shapes {[tuple(t.shape) for t in tensors]} differ beyond dim 1")
            if tensors[0].ndim >= 2:
                length = max(t.shape[1] for t in tensors)
                value = pad_values.get(key, 0)
                tensors = [t if t.shape[1] == length else _pad_dim1(t, length, value) for t in tensors]
            device = tensors[0].device
            out[key] = torch.cat([t.to(device) for t in tensors])
        return cls(out, pad_values)


def _pad_dim1(t: torch.Tensor, length: int, value: float) -> torch.Tensor:
    # F.pad lists pads from the last dim backwards: (last_lo, last_hi, ..., dim1_lo, dim1_hi)
    pads = [0, 0] * (t.ndim - 2) + [0, length - t.shape[1]]
    return F.pad(t, pads, value=value)


def cat_inputs(parts: Sequence[Inputs]) -> Inputs:
    """Stack inputs of one type (the type's own ``cat``); an error names mixed types."""
    kinds = {type(p) for p in parts}
    if len(kinds) != 1:
        raise TypeError(f"cannot stack inputs of different types {sorted(k.__name__ for k in kinds)}: "
                        f"rows embedded by one tower must come from one modality")
    return type(parts[0]).cat(list(parts))
