"""Contrastive pair loss (Hadsell, Chopra, LeCun 2006): pull positives, push negatives past a margin."""
from __future__ import annotations

import torch
from torch import nn

from multicl.objectives.base import check_contrastive_inputs
from multicl.objectives.distances import pairwise_distance


class ContrastivePairLoss(nn.Module):
    """``0.5 * mean_pos d^2 + 0.5 * mean_neg max(0, margin - d)^2`` over all masked pairs.

    Inputs: anchors (N, D), candidates (M, D), optional bool masks (N, M) (default: column i
    is row i's positive, the rest negatives). ``distance``: ``cosine`` (1 - cos, margin in
    [0, 2]) or ``euclidean``. Positives and negatives are averaged separately so the many
    in-batch negatives do not drown the N positives.
    Relations: the pairwise ancestor of the triplet loss; no softmax, so no temperature.
    Reference: Hadsell, Chopra, LeCun. Dimensionality Reduction by Learning an Invariant
    Mapping. CVPR 2006.
    """

    def __init__(self, margin: float = 0.5, distance: str = "cosine") -> None:
        super().__init__()
        if margin <= 0:
            raise ValueError(f"margin must be positive, got {margin}")
        self.margin = margin
        self.distance = distance

    def forward(self, anchors, candidates, pos_mask=None, neg_mask=None) -> torch.Tensor:
        pos_mask, neg_mask = check_contrastive_inputs(anchors, candidates, pos_mask, neg_mask)
        d = pairwise_distance(anchors, candidates, self.distance)  # (N, M)
        pos_mask = pos_mask & neg_mask.any(dim=1, keepdim=True)  # rows without negatives add nothing
        positive = (d.pow(2) * pos_mask).sum() / pos_mask.sum().clamp(min=1)
        negative = ((self.margin - d).clamp(min=0).pow(2) * neg_mask).sum() / neg_mask.sum().clamp(min=1)
        return 0.5 * positive + 0.5 * negative
