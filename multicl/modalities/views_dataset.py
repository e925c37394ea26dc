"""A map-style dataset that turns samples into training items through an adapter's views."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from torch.utils.data import Dataset

from multicl.modalities.base import Adapter


class ViewsDataset(Dataset):
    """Wraps ``samples`` and an adapter; item ``v`` is sample ``v % len(samples)``.

    The sampler hands out *virtual* indices ``epoch * len(samples) + i`` so each (epoch,
    sample) pair gets its own random views from ``rng = default_rng([seed, v])``: views are
    reproducible, independent of worker count, and identical after a resume.
    """

    def __init__(self, samples: Sequence[Any], adapter: Adapter, seed: int = 0) -> None:
        if len(samples) == 0:
            raise ValueError("the training corpus is empty: nothing to train on")
        self.samples = samples
        self.adapter = adapter
        self.seed = seed

    def __len__(self) -> int:
        return len(self.samples)

    def draw(self, virtual_index: int) -> tuple[int, Any, np.random.Generator]:
        """``(index, sample, rng)`` of a virtual index: the one seeding rule every views dataset uses."""
        index = int(virtual_index) % len(self.samples)
        return index, self.samples[index], np.random.default_rng([self.seed, int(virtual_index)])

    def __getitem__(self, virtual_index: int) -> dict[str, Any]:
        index, sample, rng = self.draw(virtual_index)
        view_a, view_b = self.adapter.views(sample, rng)
        item = {"view_a": view_a, "view_b": view_b, "meta": self.adapter.meta(sample, index)}
        hard_negative = self.adapter.hard_negative(sample, rng)
        if hard_negative is not None:
            item["hard_negative"] = hard_negative
        return item
