"""What the row anomaly detectors (NeuTraL-AD, ICL, GOAD) share to train through the Trainer: a dataset of
rows, its collate, and one ``Learner`` shape (a model, its loss on a batch of rows, no step hooks)."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from multicl.types.hooks import StepHook


class RowsDataset(Dataset):
    """Rows of a float matrix; item ``v`` is row ``v % N`` (the trainer's sampler counts on past the
    end of an epoch); ``collate_rows`` stacks them into ``{"x": (B, F)}``."""

    def __init__(self, x: np.ndarray) -> None:
        self.x = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.x[int(index) % len(self.x)]


def collate_rows(items: Sequence[torch.Tensor]) -> dict[str, torch.Tensor]:
    return {"x": torch.stack(list(items))}


class RowsLearner(nn.Module):
    """The trainer's ``Learner`` for a row detector: ``forward({"x": (B, F)}) -> self.loss(x)``; ``encoder``
    is the module the trainer reports as the encoder; no step hooks. Subclasses define :meth:`loss`."""

    def __init__(self, model: nn.Module, objective: nn.Module, encoder: nn.Module) -> None:
        super().__init__()
        self.model, self.objective = model, objective
        self.encoder = encoder
        self.last_stats: dict[str, float] = {}

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.loss(batch["x"])

    def training_hooks(self) -> Sequence[StepHook]:
        return ()
