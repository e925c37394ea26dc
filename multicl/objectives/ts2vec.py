"""TS2Vec's hierarchical contrastive loss (Yue et al. 2022, "TS2Vec: Towards Universal Representation of Time Series").

In: ``z1, z2`` (B, T, D), the per-timestep representations of the *overlapping segment* of two
random crops of the same B series (row b, step t of both is the same moment), and optionally
``valid`` (B, T) bool, True at real steps (the overlaps of a batch may differ in length; steps
must be a prefix). Out: a scalar.

At every level of a pyramid:

* **instance-wise**: anchor ``z1[i, t]``, positive ``z2[i, t]``, negatives every other
  representation at timestamp ``t`` (``z1[j, t]`` and ``z2[j, t]``, ``j != i``), both directions;
* **temporal**: anchor ``z1[i, t]``, positive ``z2[i, t]``, negatives the same series at the
  other timestamps (``z1[i, s]`` and ``z2[i, s]``, ``s != t``), both directions;

``loss_level = alpha * instance + (1 - alpha) * temporal`` (TS2Vec's default alpha = 0.5), each
term the mean of ``-log softmax`` over the anchors. Then both inputs are max-pooled along time by
2 and the next level is computed, until T = 1 (that last level is instance-only); the result is
the mean over levels. Scores are plain dot products (no normalisation, no temperature), as in the
paper. An anchor without any negative (a batch of one series; a series with one valid step) adds
nothing; a term with no such anchor is 0.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _nll_of_positives(sim: torch.Tensor, valid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """sim (G, 2N, 2N) scores between the 2N items of G groups (rows 0..N-1: view 1, N..2N-1: view 2),
    valid (G, 2N) -> (sum of -log p(positive) over counted anchors, how many were counted).

    Item k's positive is item (k + N) mod 2N; its candidates are the other valid items of its group.
    """
    g, n2, _ = sim.shape
    n = n2 // 2
    eye = torch.eye(n2, dtype=torch.bool, device=sim.device)
    candidate = valid[:, None, :] & ~eye  # (G, 2N, 2N): row k may compare with column m
    logits = sim.masked_fill(~candidate, torch.finfo(sim.dtype).min)
    logp = F.log_softmax(logits, dim=-1)
    positive = (torch.arange(n2, device=sim.device) + n) % n2
    nll = -logp.gather(-1, positive.view(1, n2, 1).expand(g, n2, 1)).squeeze(-1)  # (G, 2N)
    counted = valid & (candidate.sum(-1) >= 2)  # a valid anchor with its positive and >= 1 negative
    return (nll * counted).sum(), counted.sum()


def instance_contrastive_loss(z1: torch.Tensor, z2: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Other series at the same timestamp are the negatives. (B, T, D) x2, (B, T) -> scalar."""
    z = torch.cat([z1, z2], dim=0).transpose(0, 1)  # (T, 2B, D)
    v = torch.cat([valid, valid], dim=0).transpose(0, 1)  # (T, 2B)
    total, count = _nll_of_positives(z @ z.transpose(1, 2), v)
    return total / count.clamp(min=1)


def temporal_contrastive_loss(z1: torch.Tensor, z2: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Other timestamps of the same series are the negatives. (B, T, D) x2, (B, T) -> scalar."""
    z = torch.cat([z1, z2], dim=1)  # (B, 2T, D)
    v = torch.cat([valid, valid], dim=1)  # (B, 2T)
    total, count = _nll_of_positives(z @ z.transpose(1, 2), v)
    return total / count.clamp(min=1)


def _pool(z: torch.Tensor, valid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Max over pairs of steps (an odd last step is dropped, as max_pool1d does), padding ignored."""
    filled = z.masked_fill(~valid[..., None], torch.finfo(z.dtype).min)
    pooled = F.max_pool1d(filled.transpose(1, 2), kernel_size=2).transpose(1, 2)
    pooled_valid = F.max_pool1d(valid[:, None, :].to(z.dtype), kernel_size=2)[:, 0] > 0
    return pooled.masked_fill(~pooled_valid[..., None], 0.0), pooled_valid


def hierarchical_contrastive_loss(z1: torch.Tensor, z2: torch.Tensor, valid: torch.Tensor | None = None, alpha: float = 0.5,
                                  temporal_unit: int = 0) -> torch.Tensor:
    """The module docstring's loss. ``temporal_unit``: the temporal term starts at that level (0: every level)."""
    if z1.shape != z2.shape or z1.ndim != 3:
        raise ValueError(f"z1 and z2 must both be (B, T, D), got {tuple(z1.shape)} and {tuple(z2.shape)}")
    if valid is None:
        valid = torch.ones(z1.shape[:2], dtype=torch.bool, device=z1.device)
    elif valid.shape != z1.shape[:2]:
        raise ValueError(f"valid must be (B, T) = {tuple(z1.shape[:2])}, got {tuple(valid.shape)}")
    z1, z2 = z1.masked_fill(~valid[..., None], 0.0), z2.masked_fill(~valid[..., None], 0.0)
    loss, levels = z1.new_zeros(()), 0
    while z1.shape[1] > 1:
        if alpha != 0:
            loss = loss + alpha * instance_contrastive_loss(z1, z2, valid)
        if levels >= temporal_unit and alpha != 1:
            loss = loss + (1 - alpha) * temporal_contrastive_loss(z1, z2, valid)
        levels += 1
        (z1, _), (z2, valid) = _pool(z1, valid), _pool(z2, valid)
    if alpha != 0:
        loss = loss + alpha * instance_contrastive_loss(z1, z2, valid)
    return loss / (levels + 1)


class HierarchicalContrastiveLoss(nn.Module):
    """``objective(z1, z2, valid=None) -> loss``: :func:`hierarchical_contrastive_loss` with fixed settings."""

    def __init__(self, alpha: float = 0.5, temporal_unit: int = 0) -> None:
        super().__init__()
        if not 0 <= alpha <= 1:
            raise ValueError(f"alpha weighs the instance term against the temporal one, in [0, 1]; got {alpha}")
        self.alpha, self.temporal_unit = alpha, temporal_unit

    def forward(self, z1: torch.Tensor, z2: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        return hierarchical_contrastive_loss(z1, z2, valid, self.alpha, self.temporal_unit)
