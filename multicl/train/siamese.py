"""SiameseLearner: the non-contrastive methods (BYOL, SimSiam, Barlow Twins, VICReg).

The objective is only the loss between two paired views; the method is here:
    BYOL      projector + predictor, EMA target network, stop-gradient, symmetrised
    SimSiam   projector + predictor, stop-gradient on the other branch, symmetrised
    Barlow Twins / VICReg   projector only, gradients through both branches
Switching off the predictor or the stop-gradient reproduces the classic collapse ablations.
Explicit hard negatives in a batch have no role here and are not embedded.
"""
from __future__ import annotations

import torch
from torch import nn

from multicl.train.momentum import MomentumSchedule
from multicl.train.towers import Tower, TowerLearner, Towers
from multicl.types.batch import ContrastiveBatch
from multicl.types.hooks import StepHook
from multicl.types.inputs import cat_inputs


class SiameseLearner(TowerLearner):
    """Args:
        encoder: the network kept after training.
        objective: a non-contrastive loss ``objective(view_a, view_b)``.
        projector: head used in training (dropped at export).
        predictor: online-only MLP (BYOL, SimSiam); None for Barlow Twins / VICReg.
        momentum: EMA target network schedule (BYOL); None uses the online network as target.
            Its length is the trainer's ``max_steps``.
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
        self.towers = Towers(Tower(encoder, projector), momentum=momentum)
        self.predictor = predictor
        self.objective = objective
        self.stop_gradient = stop_gradient
        self.symmetric = symmetric
        self.last_stats: dict[str, float | torch.Tensor] = {}

    def training_hooks(self) -> list[StepHook]:
        hook = self.towers.momentum_hook()
        return [hook] if hook is not None else []

    def forward(self, batch: ContrastiveBatch) -> torch.Tensor:
        n = batch.num_anchors
        inputs = cat_inputs([batch.anchors.inputs, batch.positives.inputs])
        z = self.embed(inputs)  # (2N, D)
        p = self.predictor(z) if self.predictor is not None else z
        if self.towers.momentum is not None:
            target = self.towers.embed_candidates(inputs)  # EMA network, no gradient
        else:
            target = z.detach() if self.stop_gradient else z
        p1, p2, t1, t2 = p[:n], p[n:], target[:n], target[n:]
        if self.symmetric:
            loss = 0.5 * (self.objective(p1, t2) + self.objective(p2, t1))
        else:
            loss = self.objective(p1, t2)
        with torch.no_grad():
            self.last_stats = {"projection_std": torch.nn.functional.normalize(z.float(), dim=-1).std(0).mean()}  # read at log steps
            if self.towers.momentum is not None:
                self.last_stats["momentum"] = float(self.towers.momentum.last_momentum)
        return loss
