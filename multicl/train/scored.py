"""ScoredPairLearner: embed (sentence1, sentence2) pairs and hand their scores to a scored objective.

The batch is a :class:`~multicl.types.batch.ContrastiveBatch` whose anchors/positives are the
two sides of each pair and whose anchors' metadata carry ``score`` (see
:class:`~multicl.modalities.scored_text.ScoredPairAdapter`). One forward pass embeds both
sides (shared tower); the objective gets ``(a (N, D), b (N, D), scores=(N,))``.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from multicl.train.towers import Tower, TowerLearner, Towers
from multicl.types.batch import ContrastiveBatch
from multicl.types.hooks import StepHook
from multicl.types.inputs import cat_inputs


class ScoredPairLearner(TowerLearner):
    """Args:
        encoder: the network kept after training.
        objective: ``cosent``, ``angle``, ``cosine_regression`` or a
            :class:`~multicl.objectives.matryoshka.Matryoshka` of one (``uses_scores``).
        head: training-only projection (default none).
    """

    def __init__(self, encoder: nn.Module, objective: nn.Module, head: nn.Module | None = None) -> None:
        super().__init__()
        if not getattr(objective, "uses_scores", False):
            raise ValueError(f"{type(objective).__name__} does not read scores; use cosent, angle or cosine_regression "
                             f"(or a Matryoshka of one) with scored pairs")
        self.towers = Towers(Tower(encoder, head), None, None)
        self.objective = objective
        self.last_stats: dict[str, float] = {}

    def training_hooks(self) -> Sequence[StepHook]:
        return [m for m in self.objective.modules() if isinstance(m, StepHook)]

    def forward(self, batch: ContrastiveBatch) -> torch.Tensor:
        scores = batch.anchors.meta.get("score")
        if scores is None:
            raise ValueError("a scored-pair batch needs meta['score'] on its anchors (use ScoredPairAdapter)")
        n = batch.num_anchors
        z = self.towers.embed_anchors(cat_inputs([batch.anchors.inputs, batch.positives.inputs]))
        a, b = z[:n], z[n:]
        scores = scores.to(a.device)
        loss = self.objective(a, b, scores=scores)
        with torch.no_grad():
            self.last_stats = {"train_pair_cosine": torch.nn.functional.cosine_similarity(a.float(), b.float()).mean()}  # read at log steps
        return loss
