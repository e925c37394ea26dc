"""The crops of a batch, whichever kind it is: a multi-crop batch or a two-view batch."""
from __future__ import annotations

from typing import Callable

import torch

from multicl.types.batch import ContrastiveBatch
from multicl.types.inputs import Inputs, cat_inputs
from multicl.types.multi_crop import MultiCropBatch


def crops_of(batch: ContrastiveBatch | MultiCropBatch) -> tuple[list[Inputs], list[Inputs]]:
    """``(global crops' inputs, local crops' inputs)``. A two-view batch is two global crops and
    no local ones (so SwAV / DINO run on every adapter; hard negatives have no role there)."""
    if isinstance(batch, MultiCropBatch):
        return [c.inputs for c in batch.global_crops], [c.inputs for c in batch.local_crops]
    if isinstance(batch, ContrastiveBatch):
        return [batch.anchors.inputs, batch.positives.inputs], []
    raise TypeError(f"expected a ContrastiveBatch or MultiCropBatch, got {type(batch).__name__}")



def embed_crops(embed: Callable[[Inputs], torch.Tensor], crops: list[Inputs]) -> list[torch.Tensor]:
    """Embed crops of one kind in one forward pass (stacked; shorter ones padded by the inputs'
    ``cat`` and masked by their lengths) and split the rows back per crop."""
    if not crops:
        return []
    return list(embed(cat_inputs(crops)).chunk(len(crops)))
