"""Towers: the networks a learner embeds anchors and candidates with.

* shared (SimCLR, SimCSE): one tower embeds every role, in a single forward pass;
* two towers (CLIP-style, user history vs item text, audio vs text): an anchor tower and a
  candidate tower, whose inputs may be different modalities;
* momentum (MoCo): the candidate tower is an EMA copy of the anchor tower, without gradient.

A tower is an encoder (kept after training) and a training-only head (projection).
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from multicl.train.momentum import MomentumEncoder, MomentumSchedule
from multicl.types.hooks import NoOpHook


class Tower(nn.Module):
    """``head(encoder(inputs))``; the head defaults to the identity.

    ``frozen``: no gradient and always in eval mode (no dropout, fixed batch-norm statistics),
    whatever ``train()`` the trainer calls: a locked pretrained tower (LiT).
    """

    def __init__(self, encoder: nn.Module, head: nn.Module | None = None, frozen: bool = False) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = head if head is not None else nn.Identity()
        self.frozen = frozen
        if frozen:
            self.requires_grad_(False)
            super().train(False)

    def train(self, mode: bool = True) -> "Tower":
        return super().train(mode and not self.frozen)

    def forward(self, inputs: Any) -> torch.Tensor:
        return self.head(self.encoder(inputs))


class Towers(nn.Module):
    """Args:
        anchor: the anchor tower (and every role's, when ``candidate`` is None).
        candidate: a second tower for positives, hard negatives and mined rows.
        momentum: makes the candidate side an EMA copy of ``candidate`` (or of ``anchor``),
            updated after every optimizer step (MoCo's key encoder).
    """

    def __init__(self, anchor: Tower, candidate: Tower | None = None, momentum: MomentumSchedule | None = None) -> None:
        super().__init__()
        self.anchor = anchor
        self.candidate = candidate
        online = candidate if candidate is not None else anchor
        self.momentum = MomentumEncoder(online, momentum) if momentum is not None else None

    @property
    def fused(self) -> bool:
        """One tower with gradient for every role: embed all rows in one forward pass."""
        return self.candidate is None and self.momentum is None

    @property
    def online_candidate(self) -> Tower:
        return self.candidate if self.candidate is not None else self.anchor

    def embed_anchors(self, inputs: Any) -> torch.Tensor:
        return self.anchor(inputs)

    def embed_candidates(self, inputs: Any) -> torch.Tensor:
        if self.momentum is not None:
            with torch.no_grad():
                return self.momentum.target(inputs)
        return self.online_candidate(inputs)

    def momentum_hook(self) -> "MomentumHook | None":
        return MomentumHook(self) if self.momentum is not None else None


class MomentumHook(NoOpHook):
    """After every optimizer step: ``target = m * target + (1 - m) * online``; the schedule's
    length is the trainer's ``max_steps``."""

    def __init__(self, towers: Towers) -> None:
        self.towers = towers

    def set_total_steps(self, total_steps: int) -> None:
        self.towers.momentum.set_total_steps(total_steps)

    def after_step(self, step: int) -> None:
        self.towers.momentum.update(self.towers.online_candidate, step)


class TowerLearner(nn.Module):
    """What every learner shares: ``self.towers`` (set by the subclass), the anchor tower's
    ``encoder`` (what is evaluated and exported) and ``head``, and ``embed`` (encoder + head)."""

    towers: Towers

    @property
    def encoder(self) -> nn.Module:
        return self.towers.anchor.encoder

    @property
    def head(self) -> nn.Module:
        return self.towers.anchor.head

    def embed(self, inputs: Any) -> torch.Tensor:
        """Anchor tower (encoder + head)."""
        return self.towers.embed_anchors(inputs)
