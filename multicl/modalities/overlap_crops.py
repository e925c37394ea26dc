"""Training items for TS2Vec: each series as two overlapping random crops (no other augmentation).

``OverlapCropDataset(adapter, seed)`` wraps a :class:`~multicl.modalities.sequence.SequenceAdapter`
(instance mode: one item per series; stream mode: one per training clip). Item ``v`` (a virtual
index, as the trainer's sampler hands out) -> ``{"view_a": clip, "view_b": clip, "offset_a": int,
"overlap": int}`` with raw-unit clips; ``default_rng([seed, v])`` draws the crops, so they are
reproducible and identical after a resume. ``collate(items)`` -> ``{"view_a": {"values", "lengths"},
"view_b": {...}, "offset_a": (B,), "overlap": (B,)}``: each view standardised and zero-padded by
the adapter's ``prepare_inputs``; the overlap sits at steps ``offset_a .. offset_a + overlap`` of
view a and at steps ``0 .. overlap`` of view b.

``per_batch=True`` follows TS2Vec's code instead: items are whole clips and ``collate`` draws one crop geometry for
the batch (:func:`~multicl.views.overlapping_crops.batch_overlapping_crops`, seeded by the batch's virtual indices,
so a resumed run draws the same crops), every row shifted to its own random position.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from multicl.modalities.sequence import SequenceAdapter
from multicl.views.overlapping_crops import batch_overlapping_crops, overlapping_crops


class OverlapCropDataset(Dataset):
    """Args: adapter (its series / clips and its normalisation), seed, min_overlap (steps), per_batch (TS2Vec's
    one-geometry-per-batch crops, drawn in ``collate``; default: each series its own crops)."""

    def __init__(self, adapter: SequenceAdapter, seed: int = 0, min_overlap: int = 2, per_batch: bool = False) -> None:
        if adapter.frames:
            raise ValueError("overlapping crops are for (T, C) series, not video frames")
        self.adapter, self.seed, self.min_overlap, self.per_batch = adapter, seed, min_overlap, per_batch
        self.samples = adapter.samples

    def __len__(self) -> int:
        return len(self.samples)

    def clip(self, index: int) -> np.ndarray:
        stream, start = self.samples[index]
        series = self.adapter.series[stream]
        return series if self.adapter.clip_length is None else series[start : start + self.adapter.clip_length]

    def __getitem__(self, virtual_index: int) -> dict[str, Any]:
        clip = self.clip(int(virtual_index) % len(self.samples))
        if self.per_batch:  # cropped in collate, with the rest of the batch
            return {"clip": clip, "virtual_index": int(virtual_index)}
        rng = np.random.default_rng([self.seed, int(virtual_index)])
        a1, b1, a2, b2 = overlapping_crops(len(clip), rng, self.min_overlap)
        return {"view_a": clip[a1:b1], "view_b": clip[a2:b2], "offset_a": a2 - a1, "overlap": b1 - a2}

    def collate(self, items: Sequence[dict[str, Any]]) -> dict[str, Any]:
        if self.per_batch:
            rng = np.random.default_rng([self.seed, *(it["virtual_index"] for it in items)])
            crops = batch_overlapping_crops([len(it["clip"]) for it in items], rng, self.min_overlap)
            items = [{"view_a": it["clip"][a1:b1], "view_b": it["clip"][a2:b2], "offset_a": a2 - a1, "overlap": b1 - a2}
                     for it, (a1, b1, a2, b2) in zip(items, crops)]
        prepare = self.adapter.prepare_inputs
        return {"view_a": dict(prepare([it["view_a"] for it in items])), "view_b": dict(prepare([it["view_b"] for it in items])),
                "offset_a": torch.tensor([it["offset_a"] for it in items], dtype=torch.long),
                "overlap": torch.tensor([it["overlap"] for it in items], dtype=torch.long)}
