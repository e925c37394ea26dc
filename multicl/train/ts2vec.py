"""TS2VecLearner: the hierarchical contrastive loss on the overlap of two random crops.

In: a batch of :class:`~multicl.modalities.overlap_crops.OverlapCropDataset` (two views per
series and where they overlap). ``forward(batch) -> loss``: both views through the encoder's
``forward_steps`` (B, T, D), the overlap cut out of each (view a from ``offset_a``, view b from
0; ``overlap`` steps), then :func:`~multicl.objectives.ts2vec.hierarchical_contrastive_loss`
with the overlap lengths as the valid mask.

TS2Vec evaluates an equal-weight running average of the weights over all steps
(``torch.optim.swa_utils.AveragedModel``); :class:`WeightAverage` is that average as a step hook
(checkpointed with the run); :meth:`TS2VecLearner.averaged_encoder` returns a copy of the encoder
holding it (the encoder itself keeps the last weights).
"""
from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from multicl.objectives.ts2vec import hierarchical_contrastive_loss
from multicl.types.hooks import NoOpHook, StepHook


def take_overlap(steps: torch.Tensor, offset: torch.Tensor, overlap: torch.Tensor) -> torch.Tensor:
    """steps (B, T, D), offset (B,), overlap (B,) -> (B, max overlap, D): row b's steps
    ``offset[b] .. offset[b] + overlap[b]``, zero beyond its own overlap."""
    width = int(overlap.max())
    index = offset[:, None] + torch.arange(width, device=steps.device)[None, :]  # (B, width)
    inside = index < (offset + overlap)[:, None]
    index = index.clamp(max=steps.shape[1] - 1)
    taken = steps.gather(1, index[..., None].expand(-1, -1, steps.shape[2]))
    return taken * inside[..., None]


class WeightAverage(NoOpHook):
    """After every step: ``average += (weights - average) / n`` (equal weights over all steps, SWA)."""

    def __init__(self, module: nn.Module) -> None:
        self.module = module
        self.average: dict[str, torch.Tensor] = {}
        self.count = 0

    def after_step(self, step: int) -> None:
        with torch.no_grad():
            self.count += 1
            for name, value in self.module.state_dict().items():
                if not value.is_floating_point():
                    self.average[name] = value.detach().clone()
                elif name not in self.average:
                    self.average[name] = value.detach().clone()
                else:
                    self.average[name] += (value.detach() - self.average[name]) / self.count

    def state_dict(self) -> dict[str, Any]:
        return {"count": self.count, "average": {k: v.cpu() for k, v in self.average.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.count = int(state["count"])
        self.average = {k: v.clone() for k, v in state["average"].items()}

    def averaged(self) -> nn.Module:
        """A copy of the module with the averaged weights (the module itself before any step)."""
        out = copy.deepcopy(self.module)
        if self.average:
            out.load_state_dict(self.average)  # copy_ into the module's own tensors: device kept
        return out


class TS2VecLearner(nn.Module):
    """Args:
        encoder: a module with ``forward_steps(inputs) -> (B, T, D)`` (e.g. TS2VecEncoder).
        alpha: weight of the instance term against the temporal one (TS2Vec: 0.5).
        temporal_unit: the lowest pyramid level with a temporal term (TS2Vec: 0).
        average: keep TS2Vec's running weight average (see the module docstring).
    """

    def __init__(self, encoder: nn.Module, alpha: float = 0.5, temporal_unit: int = 0, average: bool = True) -> None:
        super().__init__()
        if not callable(getattr(type(encoder), "forward_steps", None)):
            raise TypeError(f"{type(encoder).__name__} has no forward_steps(inputs) -> (B, T, D): TS2Vec needs per-timestep output")
        self.encoder = encoder
        self.alpha, self.temporal_unit = alpha, temporal_unit
        self.weight_average = WeightAverage(encoder) if average else None
        self.last_stats: dict[str, float] = {}

    def training_hooks(self) -> list[StepHook]:
        return [self.weight_average] if self.weight_average is not None else []

    def averaged_encoder(self) -> nn.Module:
        """The encoder to evaluate: the weight average when kept, else the encoder itself."""
        return self.weight_average.averaged() if self.weight_average is not None else self.encoder

    def forward(self, batch: dict[str, Any]) -> torch.Tensor:
        overlap, offset = batch["overlap"], batch["offset_a"]
        za = take_overlap(self.encoder.forward_steps(batch["view_a"]), offset, overlap)
        zb = take_overlap(self.encoder.forward_steps(batch["view_b"]), torch.zeros_like(offset), overlap)
        valid = torch.arange(za.shape[1], device=za.device)[None, :] < overlap[:, None]
        loss = hierarchical_contrastive_loss(za.float(), zb.float(), valid, self.alpha, self.temporal_unit)
        self.last_stats = {"overlap_steps": float(overlap.float().mean())}
        return loss
