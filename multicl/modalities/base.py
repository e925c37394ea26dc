"""The adapter contract: how a modality turns raw samples into views, tensors and metadata.

An adapter knows nothing about losses. The training batch it produces (``collate``) is the one
currency the :class:`~multicl.train.learner.ContrastiveLearner` reads:

    {
      "inputs": dict[str, Tensor],      # encoder inputs for all rows, stacked:
                                        #   rows [0, N) anchor views, [N, 2N) positive views,
                                        #   [2N, 2N+H) explicit hard negatives
      "num_anchors": int,               # N
      "num_hard_negatives": int,        # H (0 when there are none)
      "anchor_meta": dict[str, Tensor], # (N,) each: instance_id, group_id, label, timestamp...
      "hard_negative_meta": dict[str, Tensor],  # (H,) each, same keys
    }

Stacking every view into one ``inputs`` lets the encoder run a single forward pass per step.
"""
from __future__ import annotations

from typing import Any, Protocol, Sequence, runtime_checkable

import numpy as np
import torch
from torch import nn


@runtime_checkable
class Encoder(Protocol):
    """``forward(inputs: dict[str, Tensor]) -> Tensor (B, embed_dim)``."""

    embed_dim: int

    def __call__(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor: ...


@runtime_checkable
class Adapter(Protocol):
    """One per modality (text, audio, sequence, tabular, graph)."""

    def views(self, sample: Any, rng: np.random.Generator) -> tuple[Any, Any]:
        """Two views of one sample (anchor view, positive view)."""
        ...

    def meta(self, sample: Any, index: int) -> dict[str, int | float]:
        """What the false-negative policy needs: instance_id, group_id, label, timestamp."""
        ...

    def collate(self, items: Sequence[dict[str, Any]]) -> dict[str, Any]:
        """Training items (from :class:`~multicl.data.views_dataset.ViewsDataset`) -> batch."""
        ...

    def prepare_inputs(self, raw: Sequence[Any]) -> dict[str, torch.Tensor]:
        """Raw inputs (texts, waveforms, records...) -> encoder inputs, for ``encode``."""
        ...

    def build_encoder(self) -> nn.Module:
        ...

    # Optional: ``hard_negative(sample, rng) -> raw item | None`` (an explicit negative carried
    # with the sample: a contradiction, a far clip of the same stream), ``mining_input(sample)``
    # (what the miner embeds), ``length_of(raw)`` (length-ordered batching), ``pad_values``.
