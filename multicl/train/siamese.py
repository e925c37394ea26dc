"""SiameseLearner: the non-contrastive methods (BYOL, SimSiam, Barlow Twins, VICReg).

The objective is only the loss between two paired views; the method is here:
    BYOL      projector + predictor, EMA target network, stop-gradient, symmetrised
    SimSiam   projector + predictor, stop-gradient on the other branch, symmetrised
    Barlow Twins / VICReg   projector only, gradients through both branches
Switching off the predictor or the stop-gradient reproduces the classic collapse ablations.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from multicl.train.learner import slice_rows
from multicl.train.momentum import MomentumEncoder, MomentumSchedule


class SiameseLearner(nn.Module):
    """Args:
        encoder: the network kept after training.
        objective: a non-contrastive loss ``objective(view_a, view_b)``.
        projector: head used in training (dropped at export).
        predictor: online-only MLP (BYOL, SimSiam); None for Barlow Twins / VICReg.
        momentum: EMA target network schedule (BYOL); None uses the online network as target.
        stop_gradient: detach the target branch (BYOL, SimSiam). Off for Barlow Twins / VICReg.
        symmetric: average ``loss(p1, t2)`` and ``loss(p2, t1)`` (BYOL, SimSiam).
    """

    def __init__(
        self,
        encoder: nn.Module,
        objective: nn.Module,
        projector: nn.Module | None = None,
        predictor: nn.Module | None = None,
        momentum: MomentumSchedule | None = None,
        stop_gradient: bool = True,
        symmetric: bool = True,
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = projector if projector is not None else nn.Identity()
        self.predictor = predictor
        self.objective = objective
        self.stop_gradient = stop_gradient
        self.symmetric = symmetric
        self.momentum = MomentumEncoder(nn.ModuleList([encoder, self.head]), momentum) if momentum else None
        self.last_stats: dict[str, float] = {}

    def embed(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.head(self.encoder(inputs))

    def forward(self, batch: dict[str, Any]) -> torch.Tensor:
        n = int(batch["num_anchors"])
        inputs = slice_rows(batch["inputs"], 0, 2 * n)  # hard negatives have no role here
        z = self.embed(inputs)  # (2N, D)
        p = self.predictor(z) if self.predictor is not None else z
        if self.momentum is not None:
            encoder, head = self.momentum.target
            with torch.no_grad():
                target = head(encoder(inputs))
        else:
            target = z.detach() if self.stop_gradient else z
        p1, p2, t1, t2 = p[:n], p[n:], target[:n], target[n:]
        if self.symmetric:
            loss = 0.5 * (self.objective(p1, t2) + self.objective(p2, t1))
        else:
            loss = self.objective(p1, t2)
        with torch.no_grad():
            self.last_stats = {"projection_std": float(torch.nn.functional.normalize(z.float(), dim=-1).std(0).mean())}
            if self.momentum is not None:
                self.last_stats["momentum"] = float(self.momentum.last_momentum)
        return loss

    def step_end(self, step: int) -> None:
        if self.momentum is not None:
            self.momentum.update(nn.ModuleList([self.encoder, self.head]), step)
