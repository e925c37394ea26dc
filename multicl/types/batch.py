"""The training batch, typed by role: anchors, positives, explicit hard negatives.

Each role is a :class:`RoleBatch`: the modality's :class:`~multicl.types.inputs.Inputs` plus
that role's metadata (one value per row: ``instance_id``, ``group_id``, ``label``,
``timestamp``...), which the false-negative policy reads. Anchors and positives have the same
number of rows N (row i of positives is anchor i's positive) and may be of different
modalities (two towers); hard negatives have H rows of the positives' modality.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from multicl.types.inputs import Inputs, cat_inputs

Meta = dict[str, torch.Tensor]


@dataclass(frozen=True)
class View:
    """A view that carries metadata of its own, overriding its sample's (a jittered clip's
    start ``timestamp``). Adapters may return it from ``views`` for either side."""

    data: Any
    meta: Mapping[str, int | float] = field(default_factory=dict)


@dataclass(frozen=True)
class HardNegative:
    """An explicit negative carried with a sample (a contradiction, a far clip of the same
    stream) and what the policy should know about it. ``instance_id`` is assigned by collate
    (fresh, never an anchor's) unless given."""

    data: Any
    meta: Mapping[str, int | float] = field(default_factory=dict)


@dataclass
class RoleBatch:
    """One role's rows: ``inputs`` (num_rows rows) and ``meta`` ((num_rows,) tensors)."""

    inputs: Inputs
    meta: Meta

    def __post_init__(self) -> None:
        n = self.inputs.num_rows
        for key, value in self.meta.items():
            if value.shape[:1] != (n,):
                raise ValueError(f"meta[{key!r}] has shape {tuple(value.shape)} for {n} rows")

    def __len__(self) -> int:
        return self.inputs.num_rows

    def to(self, device: torch.device | str, non_blocking: bool = False) -> "RoleBatch":
        return RoleBatch(self.inputs.to(device, non_blocking=non_blocking),
                         {k: v.to(device, non_blocking=non_blocking) for k, v in self.meta.items()})

    def select(self, rows: torch.Tensor | Sequence[int]) -> "RoleBatch":
        index = torch.as_tensor(rows, dtype=torch.long)
        return RoleBatch(self.inputs.select(index), {k: v[index.to(v.device)] for k, v in self.meta.items()})

    @staticmethod
    def cat(parts: Sequence["RoleBatch"]) -> "RoleBatch":
        """Stack rows; metadata keeps the keys every part has."""
        keys = [k for k in parts[0].meta if all(k in p.meta for p in parts)]
        device = next(iter(parts[0].meta.values())).device if parts[0].meta else None
        meta = {k: torch.cat([p.meta[k].to(device) for p in parts]) for k in keys}
        return RoleBatch(cat_inputs([p.inputs for p in parts]), meta)


@dataclass
class ContrastiveBatch:
    """What an adapter's ``collate`` returns and a learner reads."""

    anchors: RoleBatch
    positives: RoleBatch
    hard_negatives: RoleBatch | None = None

    def __post_init__(self) -> None:
        if len(self.anchors) != len(self.positives):
            raise ValueError(f"{len(self.anchors)} anchors but {len(self.positives)} positives: row i of each is a pair")

    @property
    def num_anchors(self) -> int:
        return len(self.anchors)

    def to(self, device: torch.device | str, non_blocking: bool = False) -> "ContrastiveBatch":
        hard = None if self.hard_negatives is None else self.hard_negatives.to(device, non_blocking)
        return ContrastiveBatch(self.anchors.to(device, non_blocking), self.positives.to(device, non_blocking), hard)

    def select(self, rows: torch.Tensor | Sequence[int]) -> "ContrastiveBatch":
        """The first-class subset of anchor/positive pairs ``rows`` (hard negatives kept whole)."""
        return ContrastiveBatch(self.anchors.select(rows), self.positives.select(rows), self.hard_negatives)


def meta_tensors(rows: Sequence[Mapping[str, int | float]]) -> Meta:
    """Per-row metadata dicts -> one tensor per key every row has (int64, or float64 if any
    value is a float)."""
    if not rows:
        return {}
    keys = [k for k in rows[0] if all(k in r for r in rows)]
    out = {}
    for key in keys:
        values = [r[key] for r in rows]
        is_float = any(isinstance(v, (float, np.floating)) for v in values)
        out[key] = torch.tensor(values, dtype=torch.float64 if is_float else torch.long)
    return out
