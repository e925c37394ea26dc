"""Self-supervised pre-training of the audio CNN with one of three methods, for the audio recipe.

* ``infonce``: SimCLR-style InfoNCE on two waveform views per clip (the recipe's old default);
* ``dino``: self-distillation (:class:`~multicl.train.dino.DINOLearner`) on multi-crop views;
* ``swav``: online clustering (:class:`~multicl.train.swav.SwAVLearner`) on multi-crop views.

Multi-crop (dino / swav): each clip gives ``global_crops`` crops whose window is a share in
``global_share`` of ``crop_seconds`` and ``local_crops`` crops with a share in ``local_share``
(:class:`~multicl.modalities.multi_crop.MultiCropDataset`, the adapter's ``crop_view``); every
crop gets the full waveform views (speed, shift, gain, noise) and, in the frontend, CMVN, mel
warp and SpecAugment. DINO's teacher sees only the global crops.

In: an :class:`~multicl.modalities.audio.AudioAdapter`, a :class:`PretrainSpec`, a fresh
encoder, the out folder, the trainer settings. Out: :class:`Pretrained` (the encoder to keep,
every encoder worth probing by name, the trainer summary).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

from multicl.modalities.audio import AudioAdapter
from multicl.modalities.multi_crop import MultiCropDataset, MultiCropSpec
from multicl.modalities.views_dataset import ViewsDataset
from multicl.negatives.masks import FalseNegativePolicy
from multicl.objectives import build_objective
from multicl.train.config import TrainerConfig
from multicl.train.dino import DINOLearner
from multicl.train.learner import ContrastiveLearner
from multicl.train.methods import mlp
from multicl.train import methods
from multicl.train.trainer import Trainer

AUDIO_METHODS = ("infonce", "dino", "swav", "vicreg", "barlow_twins")
TWO_VIEW_METHODS = frozenset({"infonce", "vicreg", "barlow_twins"})  # the others train on multi-crop batches
KEEP = ("student", "teacher")


@dataclass(frozen=True)
class PretrainSpec:
    """The method and its settings (the recipe's flags of the same names).

    method: ``infonce`` | ``dino`` | ``swav`` | ``vicreg`` | ``barlow_twins``; temperature: InfoNCE's; crops: multi-crop
    (dino / swav); dino_out_dim: DINO's K (SwAV: the number of prototypes);
    dino_momentum: the teacher EMA's start (rising to 1 along a cosine);
    teacher_temperature: DINO's teacher temperature warm-up ``(start, end)``;
    keep: ``student`` | ``teacher`` (DINO: which encoder is saved and reported as the main row;
    both are probed).
    """

    method: str = "infonce"
    temperature: float = 0.1
    crops: MultiCropSpec = field(default_factory=MultiCropSpec)
    dino_out_dim: int = 256
    dino_momentum: float = 0.99
    teacher_temperature: tuple[float, float] = (0.04, 0.07)
    keep: str = "teacher"

    def __post_init__(self) -> None:
        if self.method not in AUDIO_METHODS:
            raise ValueError(f"method must be one of {AUDIO_METHODS}, got {self.method!r}")
        if self.keep not in KEEP:
            raise ValueError(f"keep must be one of {KEEP}, got {self.keep!r}")


@dataclass
class Pretrained:
    """``encoder``: the one to save and report; ``probe``: ``{row suffix: encoder}`` of every
    encoder to probe (DINO: ``student`` and ``teacher``); ``summary``: the trainer's."""

    encoder: nn.Module
    probe: dict[str, nn.Module]
    summary: dict[str, Any]


def build_learner(spec: PretrainSpec, encoder: nn.Module, embed_dim: int, dataset_size: int, labelled: bool = False) -> nn.Module:
    """The learner around ``encoder`` for ``spec.method``; ``labelled``: InfoNCE over same-label
    positives becomes SupCon (the recipe's supervised-contrastive row)."""
    if spec.method in methods.MULTI_CROP_METHODS:
        return methods.build_multi_crop_learner(spec.method, encoder, embed_dim, spec.dino_out_dim, spec.dino_momentum,
                                                tuple(spec.teacher_temperature), queue_length=min(1024, dataset_size))
    if spec.method in ("vicreg", "barlow_twins") and not labelled:
        return methods.build_learner(spec.method, encoder, embed_dim, projection_dim=128, hidden_dim=256)
    objective = build_objective("supcon" if labelled else "info_nce", temperature=spec.temperature)
    return ContrastiveLearner(encoder, objective, head=mlp(embed_dim, 256, 128), policy=FalseNegativePolicy())


def pretrain(adapter: AudioAdapter, spec: PretrainSpec, encoder: nn.Module, embed_dim: int, out_dir: Path,
             trainer_cfg: TrainerConfig, seed: int, labelled: bool = False) -> Pretrained:
    """Train ``encoder`` on every clip of ``adapter`` (labels unused unless ``labelled``)."""
    samples = list(range(len(adapter.waveforms)))
    learner = build_learner(spec, encoder, embed_dim, len(samples), labelled)
    if spec.method in TWO_VIEW_METHODS or labelled:
        dataset: Any = ViewsDataset(samples, adapter, seed=seed)
        collate = adapter.collate
    else:
        dataset = MultiCropDataset(samples, adapter, spec.crops, seed=seed)
        collate = dataset.collate
    trainer_cfg = dataclasses.replace(trainer_cfg, out_dir=str(out_dir))
    summary = Trainer(learner, dataset, collate, trainer_cfg).train()
    if isinstance(learner, DINOLearner):
        probe = {"student": learner.encoder, "teacher": learner.teacher_encoder}
        return Pretrained(probe[spec.keep], probe, summary)
    return Pretrained(encoder, {}, summary)


def trainer_config(out_dir: Path, steps: int, batch_size: int, learning_rate: float, seed: int, device: str,
                   precision: str) -> TrainerConfig:
    """The recipe's trainer settings: AdamW, 5% warm-up, cosine decay, checkpoints every tenth."""
    return TrainerConfig(out_dir=str(out_dir), max_steps=steps, batch_size=batch_size, learning_rate=learning_rate,
                         weight_decay=1e-4, warmup_ratio=0.05, lr_schedule="cosine", seed=seed, device=device,
                         precision=precision, log_every=20, save_every=None, num_workers=0)
