"""Multi-crop views (SwAV, DINO): a few global crops and several local crops of each sample.

An adapter that can cut a view covering a given share of a sample implements
:class:`Croppable` (audio and sequence adapters do). :class:`MultiCropDataset` draws, per item,
``global_crops`` shares from ``global_share`` and ``local_crops`` shares from ``local_share``
and asks the adapter for those views; its ``collate`` makes a
:class:`~multicl.types.multi_crop.MultiCropBatch` (one role batch per crop; crops of different
lengths are padded by the inputs' own ``cat`` and carry ``lengths``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, Sequence, runtime_checkable

import numpy as np
from multicl.modalities.base import Adapter, unwrap_views
from multicl.modalities.views_dataset import ViewsDataset
from multicl.types.batch import RoleBatch, meta_tensors
from multicl.types.multi_crop import MultiCropBatch


@runtime_checkable
class Croppable(Protocol):
    """An adapter that can cut an augmented view covering ``share`` (0, 1] of a sample."""

    def crop_view(self, sample: Any, share: float, rng: np.random.Generator) -> Any: ...


@dataclass(frozen=True)
class MultiCropSpec:
    """How many crops of which size. Shares are of the sample's own view length (a series, a
    stream clip, an audio crop window). DINO/SwAV's images: 2 global crops of 40-100% of the
    area and 6-10 local crops of 5-40%; on 1-D signals the share is of the length."""

    global_crops: int = 2
    global_share: tuple[float, float] = (0.6, 1.0)
    local_crops: int = 4
    local_share: tuple[float, float] = (0.2, 0.5)

    def __post_init__(self) -> None:
        if self.global_crops < 2 or self.local_crops < 0:
            raise ValueError(f"need >= 2 global crops and >= 0 local crops, got {self.global_crops} and {self.local_crops}")
        for name, (lo, hi) in (("global_share", self.global_share), ("local_share", self.local_share)):
            if not 0 < lo <= hi <= 1:
                raise ValueError(f"{name} must be (lo, hi) with 0 < lo <= hi <= 1, got {(lo, hi)}")


class MultiCropDataset(ViewsDataset):
    """Item ``v`` is sample ``v % len(samples)`` cut into the spec's crops, seeded as
    :class:`~multicl.modalities.views_dataset.ViewsDataset` seeds its views (reproducible,
    worker-count independent, resume-exact)."""

    def __init__(self, samples: Sequence[Any], adapter: Adapter, spec: MultiCropSpec | None = None, seed: int = 0) -> None:
        super().__init__(samples, adapter, seed)
        if not isinstance(adapter, Croppable):
            raise TypeError(f"{type(adapter).__name__} has no crop_view(sample, share, rng): multi-crop needs an adapter that can "
                            f"cut a view covering a share of a sample (the audio and sequence adapters can)")
        self.spec = spec or MultiCropSpec()

    def __getitem__(self, virtual_index: int) -> dict[str, Any]:
        index, sample, rng = self.draw(virtual_index)
        spec = self.spec
        globals_ = [self.adapter.crop_view(sample, float(rng.uniform(*spec.global_share)), rng) for _ in range(spec.global_crops)]
        locals_ = [self.adapter.crop_view(sample, float(rng.uniform(*spec.local_share)), rng) for _ in range(spec.local_crops)]
        return {"global": globals_, "local": locals_, "meta": self.adapter.meta(sample, index)}

    def collate(self, items: Sequence[dict[str, Any]]) -> MultiCropBatch:
        return collate_multi_crop(self.adapter, items)


def collate_multi_crop(adapter: Adapter, items: Sequence[dict[str, Any]]) -> MultiCropBatch:
    """Items of :class:`MultiCropDataset` -> one role batch per crop index (global, then local)."""
    if not items:
        raise ValueError("cannot collate an empty batch")
    metas = [it["meta"] for it in items]

    def role(views: list[Any]) -> RoleBatch:
        data, meta = unwrap_views(views, metas)
        return RoleBatch(adapter.views_to_inputs(data), meta_tensors(meta))

    n_global, n_local = len(items[0]["global"]), len(items[0]["local"])
    return MultiCropBatch([role([it["global"][c] for it in items]) for c in range(n_global)],
                          [role([it["local"][c] for it in items]) for c in range(n_local)])
