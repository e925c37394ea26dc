"""GOAD (Bergman & Hoshen 2020, "Classification-Based Anomaly Detection for General Data", ICLR): the
training loss and the anomaly score, per row.

Each row is seen through M fixed random affine transformations; a shared network maps transformed
row ``m`` to a feature ``f_m`` (D dims) and to logits over the M transformations. Training (normal
rows only) asks each ``f_m`` to say which transformation made it:

    loss = CE(logits_m, m)  +  weight * mean_m max(0, |f_m - c_m|^2 + margin - min_{l != m} |f_m - c_l|^2)

the second term being the triplet-centre loss, with ``c_m`` the batch mean of ``f_m`` (inputs
``features (B, M, D)``, ``logits (B, M, M)``: row, transformation, class). The anomaly score of a row,
given the centres ``c (M, D)`` of the normal training rows, is how badly its features name their own
transformation when each is classified by its nearest centre:

    score = - sum_m log softmax_l(-|f_m - c_l|^2)[m]          (higher = more anomalous)
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def squared_distances(features: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    """``features (B, M, D)``, ``centres (M, D)`` -> ``(B, M, M)``: ``[b, m, l] = |f_m(b) - c_l|^2`` (expanded as
    ``|f|^2 - 2 f.c + |c|^2``: no (B, M, M, D) tensor, which made a KDD-sized step 10x slower)."""
    cross = features @ centres.t()  # (B, M, M)
    return (features.pow(2).sum(-1, keepdim=True) - 2 * cross + centres.pow(2).sum(-1)).clamp_min(0)


class GOADLoss(nn.Module):
    """``forward(features (B, M, D), logits (B, M, M)) -> scalar``; ``row_scores(features, centres) -> (B,)``.

    Args:
        margin: the triplet-centre margin (the authors' default 1).
        weight: of the triplet-centre term beside the cross-entropy (the authors' ``lmbda``, 0.1).
    """

    def __init__(self, margin: float = 1.0, weight: float = 0.1) -> None:
        super().__init__()
        if margin < 0 or weight < 0:
            raise ValueError(f"margin and weight must be >= 0, got {margin} and {weight}")
        self.margin, self.weight = margin, weight

    @staticmethod
    def _check(features: torch.Tensor) -> None:
        if features.dim() != 3 or features.shape[1] < 2:
            raise ValueError(f"GOAD expects features (B, M, D) with M >= 2 transformations, got {tuple(features.shape)}")

    def triplet_centre(self, features: torch.Tensor) -> torch.Tensor:
        self._check(features)
        d = squared_distances(features, features.mean(0))  # (B, M, M) to the batch centres
        own = d.diagonal(dim1=1, dim2=2)
        others = d.masked_fill(torch.eye(d.shape[1], dtype=torch.bool, device=d.device), float("inf")).amin(-1)
        return torch.clamp(own + self.margin - others, min=0).mean()

    def forward(self, features: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        self._check(features)
        b, m = features.shape[:2]
        if logits.shape != (b, m, m):
            raise ValueError(f"logits must be (B, M, M) = {(b, m, m)} for features {tuple(features.shape)}, got {tuple(logits.shape)}")
        targets = torch.arange(m, device=logits.device).expand(b, m)
        ce = F.cross_entropy(logits.float().reshape(b * m, m), targets.reshape(-1))
        return ce + self.weight * self.triplet_centre(features.float()) if self.weight else ce

    def row_scores(self, features: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
        self._check(features)
        if centres.shape != features.shape[1:]:
            raise ValueError(f"centres must be (M, D) = {tuple(features.shape[1:])}, got {tuple(centres.shape)}")
        log_p = torch.log_softmax(-squared_distances(features.float(), centres.float()), dim=-1)
        return -log_p.diagonal(dim1=1, dim2=2).sum(-1)
