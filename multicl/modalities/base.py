"""The adapter contract: how a modality turns raw samples into views, inputs and metadata.

An adapter knows nothing about losses. It turns a sample into two views (and optionally an
explicit hard negative), views into the modality's :class:`~multicl.types.inputs.Inputs`, and
training items into a :class:`~multicl.types.batch.ContrastiveBatch` (anchors, positives, hard
negatives, each with its metadata). The learner embeds roles and splits embeddings; it never
slices inputs.

Required: ``views``, ``meta``, ``prepare_inputs``, ``build_encoder``. Every other member has a
default here; an adapter subclasses :class:`Adapter` (a Protocol with bodies) and overrides
what it needs. Nothing in the engine probes adapters with ``hasattr``.
"""
from __future__ import annotations

from typing import Any, Protocol, Sequence, runtime_checkable

import numpy as np
import torch
from torch import nn

from multicl.types.batch import ContrastiveBatch, HardNegative, RoleBatch, View, meta_tensors
from multicl.types.inputs import Inputs


@runtime_checkable
class Encoder(Protocol):
    """``forward(inputs: Inputs) -> Tensor (num_rows, embed_dim)``."""

    embed_dim: int

    def __call__(self, inputs: Any) -> torch.Tensor: ...


class Adapter(Protocol):
    """One per modality (text, audio, sequence, tabular, vector, graph...)."""

    # -- required ------------------------------------------------------------------------------
    def views(self, sample: Any, rng: np.random.Generator) -> tuple[Any, Any]:
        """Two views of one sample (anchor view, positive view); either may be a
        :class:`~multicl.types.batch.View` carrying its own metadata."""
        raise NotImplementedError

    def meta(self, sample: Any, index: int) -> dict[str, int | float]:
        """What the false-negative policy needs: ``instance_id`` (the dataset index) and any of
        ``group_id``, ``label``, ``timestamp``."""
        raise NotImplementedError

    def prepare_inputs(self, raw: Sequence[Any]) -> Inputs:
        """Raw items (texts, waveforms, feature rows...) -> encoder inputs, for ``encode`` and
        for the miner's corpus."""
        raise NotImplementedError

    def build_encoder(self) -> nn.Module:
        raise NotImplementedError

    # -- optional, with defaults ---------------------------------------------------------------
    def views_to_inputs(self, views: Sequence[Any]) -> Inputs:
        """Views (what ``views`` returns) -> inputs. Default: views are raw items."""
        return self.prepare_inputs(views)

    def hard_negative(self, sample: Any, rng: np.random.Generator) -> HardNegative | None:
        """An explicit negative carried with the sample, or None (the default)."""
        return None

    def mining_corpus(self, samples: Sequence[Any]) -> Any:
        """What the hard-negative miner embeds for the training set, one raw item per sample
        (indexable by row). Default: the samples themselves."""
        return list(samples)

    def length_of(self, raw: Any) -> int:
        """Sort key for length-ordered batching of raw items (0: no order)."""
        return 0

    def collate(self, items: Sequence[dict[str, Any]]) -> ContrastiveBatch:
        """Training items (from :class:`~multicl.modalities.views_dataset.ViewsDataset`) -> batch."""
        return collate_views(self, items)


def collate_views(adapter: Adapter, items: Sequence[dict[str, Any]]) -> ContrastiveBatch:
    """The standard collation: view a -> anchors, view b -> positives, carried hard negatives.

    A view given as :class:`View` overrides its sample's metadata for that role. Hard
    negatives get fresh negative ``instance_id`` s (never an anchor's) unless they carry one,
    and ``label = -1`` when anchors are labelled and the negative is not.
    """
    if not items:
        raise ValueError("cannot collate an empty batch")
    anchor_views, anchor_meta = unwrap_views([it["view_a"] for it in items], [it["meta"] for it in items])
    positive_views, positive_meta = unwrap_views([it["view_b"] for it in items], [it["meta"] for it in items])
    anchors = RoleBatch(adapter.views_to_inputs(anchor_views), meta_tensors(anchor_meta))
    positives = RoleBatch(adapter.views_to_inputs(positive_views), meta_tensors(positive_meta))
    negatives: list[HardNegative] = [it["hard_negative"] for it in items if it.get("hard_negative") is not None]
    hard = None
    if negatives:
        rows = []
        for j, negative in enumerate(negatives):
            meta = {"instance_id": -(j + 1), **negative.meta}
            if "label" in anchors.meta and "label" not in meta:
                meta["label"] = -1
            rows.append(meta)
        hard = RoleBatch(adapter.prepare_inputs([n.data for n in negatives]), meta_tensors(rows))
    return ContrastiveBatch(anchors, positives, hard)


def unwrap_views(views: list[Any], metas: list[dict[str, Any]]) -> tuple[list[Any], list[dict[str, Any]]]:
    """Views -> (their data, each sample's metadata updated by the view's own)."""
    data, out = [], []
    for view, meta in zip(views, metas):
        if isinstance(view, View):
            data.append(view.data)
            out.append({**meta, **view.meta})
        else:
            data.append(view)
            out.append(meta)
    return data, out
