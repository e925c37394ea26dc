"""Pairs across two modalities (audio clip <-> its transcript, record <-> its description).

The anchor side and the candidate side each keep their own adapter; this adapter makes the
anchor view with the first, the candidate view with the second, and collates them into a
:class:`~multicl.types.batch.ContrastiveBatch` whose anchors and positives are different
:class:`~multicl.types.inputs.Inputs` types, for a learner with two towers
(``ContrastiveLearner(anchor_encoder, objective, candidate_encoder=...)``).

Metadata: ``instance_id`` is the pair's index; ``group_id`` is the candidate side's
(for text, a hash of the normalised text), so two clips paired with the same word are never
each other's negatives.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from torch import nn

from multicl.modalities.base import Adapter, unwrap_views
from multicl.types.batch import ContrastiveBatch, RoleBatch, meta_tensors
from multicl.types.inputs import Inputs


class PairedAdapter(Adapter):
    """Args:
        anchor: adapter of the anchor modality; ``anchor_samples[i]`` is a sample it understands.
        candidate: adapter of the candidate modality; ``candidate_samples[i]`` likewise.
        anchor_samples / candidate_samples: pair i is ``(anchor_samples[i], candidate_samples[i])``.
    Samples of this adapter are pair indices ``0..len-1``.
    """

    def __init__(self, anchor: Adapter, candidate: Adapter, anchor_samples: Sequence[Any], candidate_samples: Sequence[Any]) -> None:
        if len(anchor_samples) != len(candidate_samples):
            raise ValueError(f"{len(anchor_samples)} anchor samples but {len(candidate_samples)} candidate samples: "
                             f"pair i is (anchor_samples[i], candidate_samples[i])")
        if len(anchor_samples) == 0:
            raise ValueError("no pairs to train on")
        self.anchor, self.candidate = anchor, candidate
        self.anchor_samples, self.candidate_samples = list(anchor_samples), list(candidate_samples)

    @property
    def samples(self) -> list[int]:
        return list(range(len(self.anchor_samples)))

    def views(self, sample: int, rng: np.random.Generator) -> tuple[Any, Any]:
        i = int(sample)
        anchor_view = self.anchor.views(self.anchor_samples[i], rng)[0]
        candidate_view = self.candidate.views(self.candidate_samples[i], rng)[0]
        return anchor_view, candidate_view

    def meta(self, sample: int, index: int) -> dict[str, int | float]:
        i = int(sample)
        meta = {"instance_id": i}
        candidate_meta = self.candidate.meta(self.candidate_samples[i], i)
        if "group_id" in candidate_meta:
            meta["group_id"] = candidate_meta["group_id"]
        anchor_meta = self.anchor.meta(self.anchor_samples[i], i)
        if "label" in anchor_meta:
            meta["label"] = anchor_meta["label"]
        return meta

    def prepare_inputs(self, raw: Sequence[Any]) -> Inputs:
        """Anchor-side raw items -> anchor inputs (``prepare_candidates`` for the other side)."""
        return self.anchor.prepare_inputs(raw)

    def prepare_candidates(self, raw: Sequence[Any]) -> Inputs:
        return self.candidate.prepare_inputs(raw)

    def build_encoder(self) -> nn.Module:
        return self.anchor.build_encoder()

    def build_candidate_encoder(self) -> nn.Module:
        return self.candidate.build_encoder()

    def collate(self, items: Sequence[dict[str, Any]]) -> ContrastiveBatch:
        metas = [it["meta"] for it in items]
        anchor_views, anchor_meta = unwrap_views([it["view_a"] for it in items], metas)
        candidate_views, candidate_meta = unwrap_views([it["view_b"] for it in items], metas)
        return ContrastiveBatch(RoleBatch(self.anchor.views_to_inputs(anchor_views), meta_tensors(anchor_meta)),
                                RoleBatch(self.candidate.views_to_inputs(candidate_views), meta_tensors(candidate_meta)))
