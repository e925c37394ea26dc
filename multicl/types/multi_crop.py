"""A multi-crop batch (SwAV, DINO): a few large *global* crops and several small *local* crops
of the same N samples.

Row i of every crop is sample i. Global crops come first everywhere: the teacher (DINO) and the
code assignment (SwAV) see only them; the student / every prediction sees all crops. Crops of
one kind are usually the same length, so a learner stacks them into one forward pass.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from multicl.types.batch import RoleBatch


@dataclass
class MultiCropBatch:
    """``global_crops``: >= 2 role batches of N rows; ``local_crops``: >= 0 role batches of N rows."""

    global_crops: list[RoleBatch]
    local_crops: list[RoleBatch]

    def __post_init__(self) -> None:
        if len(self.global_crops) < 2:
            raise ValueError(f"multi-crop needs at least 2 global crops (each predicts the others), got {len(self.global_crops)}")
        sizes = {len(c) for c in [*self.global_crops, *self.local_crops]}
        if len(sizes) != 1:
            raise ValueError(f"every crop must hold the same samples in the same rows; got crops of {sorted(sizes)} rows")

    @property
    def num_anchors(self) -> int:
        """Samples in the batch (what the trainer counts as seen)."""
        return len(self.global_crops[0])

    @property
    def crops(self) -> list[RoleBatch]:
        """Every crop, global first."""
        return [*self.global_crops, *self.local_crops]

    def to(self, device: torch.device | str, non_blocking: bool = False) -> "MultiCropBatch":
        return MultiCropBatch([c.to(device, non_blocking) for c in self.global_crops],
                              [c.to(device, non_blocking) for c in self.local_crops])
