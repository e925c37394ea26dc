"""DINOLearner: self-distillation with no labels (Caron et al. 2021) on any adapter's crops.

Student = encoder + :class:`~multicl.encoders.dino_head.DINOHead`; teacher = its EMA copy
(momentum 0.996 -> 1 along a cosine), no gradient. The teacher sees only the global crops, the
student every crop; each student crop predicts each *other* global crop's centred, sharpened
teacher distribution (:class:`~multicl.objectives.dino.DINOLoss`). Schedules, all from the
trainer's run length: the teacher temperature warms up linearly over the first
``teacher_warmup_fraction`` of the run; the head's last layer is frozen for the first
``freeze_last_layer_fraction`` (zero gradient). Batches: a
:class:`~multicl.types.multi_crop.MultiCropBatch` (multi-crop) or a two-view
:class:`~multicl.types.batch.ContrastiveBatch` (two global crops, no local ones).
"""
from __future__ import annotations

from torch import nn
import torch

from multicl.encoders.dino_head import DINOHead
from multicl.objectives.dino import DINOLoss
from multicl.train.crops import crops_of, embed_crops
from multicl.train.momentum import MomentumSchedule
from multicl.train.towers import Tower, TowerLearner, Towers
from multicl.types.hooks import NoOpHook, StepHook


class DINOLearner(TowerLearner):
    """Args:
        encoder: the network kept after training (the student's; ``teacher_encoder`` is the EMA one).
        head: a :class:`DINOHead` over the encoder's embedding.
        objective: a :class:`DINOLoss` with the head's ``out_dim``.
        momentum: the teacher's EMA schedule (default 0.996 -> 1).
        teacher_temperature: ``(start, end)`` of the linear warm-up (the paper: 0.04 -> 0.04..0.07).
        teacher_warmup_fraction / freeze_last_layer_fraction: shares of the run.
    """

    def __init__(self, encoder: nn.Module, head: DINOHead, objective: DINOLoss, momentum: MomentumSchedule | None = None,
                 teacher_temperature: tuple[float, float] = (0.04, 0.07), teacher_warmup_fraction: float = 0.3,
                 freeze_last_layer_fraction: float = 0.05) -> None:
        super().__init__()
        if head.out_dim != objective.center.shape[1]:
            raise ValueError(f"the head gives {head.out_dim} logits but the loss's centre has {objective.center.shape[1]}")
        if not (0 <= teacher_warmup_fraction <= 1 and 0 <= freeze_last_layer_fraction <= 1):
            raise ValueError("teacher_warmup_fraction and freeze_last_layer_fraction are shares of the run, in [0, 1]")
        self.towers = Towers(Tower(encoder, head), momentum=momentum or MomentumSchedule(0.996, 1.0))
        self.objective = objective
        self.teacher_temperature_range = teacher_temperature
        self.teacher_warmup_fraction, self.freeze_last_layer_fraction = teacher_warmup_fraction, freeze_last_layer_fraction
        self.teacher_temperature = teacher_temperature[0]
        self.last_stats: dict[str, float | torch.Tensor] = {}

    @property
    def teacher_encoder(self) -> nn.Module:
        """The EMA teacher's encoder (DINO's paper evaluates this one; it is often better)."""
        return self.towers.momentum.target.encoder

    def training_hooks(self) -> list[StepHook]:
        return [self.towers.momentum_hook(), _DINOSchedule(self)]

    def forward(self, batch) -> torch.Tensor:
        global_crops, local_crops = crops_of(batch)
        student = embed_crops(self.embed, global_crops) + embed_crops(self.embed, local_crops)
        teacher = embed_crops(self.towers.embed_candidates, global_crops)  # EMA network, no gradient
        loss = self.objective(student, teacher, self.teacher_temperature)
        with torch.no_grad():
            probs = torch.softmax((torch.cat(teacher).float() - self.objective.center) / self.teacher_temperature, dim=1)
            entropy = -(probs * probs.clamp_min(1e-12).log()).sum(1).mean()
            self.last_stats = {"teacher_entropy": entropy, "teacher_temperature": self.teacher_temperature,  # tensors: read at log steps
                               "momentum": float(self.towers.momentum.last_momentum)}
        return loss


class _DINOSchedule(NoOpHook):
    """Before each step: the warmed-up teacher temperature and the last layer's freeze."""

    def __init__(self, learner: DINOLearner) -> None:
        self.learner, self.total_steps = learner, 1

    def set_total_steps(self, total_steps: int) -> None:
        self.total_steps = max(1, int(total_steps))

    def before_step(self, step: int) -> None:
        learner = self.learner
        start, end = learner.teacher_temperature_range
        warmup = learner.teacher_warmup_fraction * self.total_steps
        progress = 1.0 if warmup <= 0 else min(1.0, step / warmup)
        learner.teacher_temperature = start + (end - start) * progress
        learner.head.last_layer_trainable = step >= learner.freeze_last_layer_fraction * self.total_steps
