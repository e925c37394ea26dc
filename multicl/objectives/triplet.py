"""Triplet loss with in-batch selection: all triplets, batch-hard, semi-hard."""
from __future__ import annotations

import torch
from torch import nn

from multicl.objectives.base import check_contrastive_inputs
from multicl.objectives.distances import pairwise_distance

SELECTIONS = ("all", "batch_hard", "semi_hard")


class TripletLoss(nn.Module):
    """``max(0, d(a, p) - d(a, n) + margin)`` over triplets chosen inside the batch.

    Inputs: anchors (N, D), candidates (M, D), optional bool masks (N, M) (use
    :func:`multicl.negatives.masks.masks_from_labels` for class labels).
    Selections:
        ``all``         mean over every (anchor, positive, negative) triplet;
        ``batch_hard``  per anchor, its farthest positive and nearest negative (Hermans et al. 2017);
        ``semi_hard``   per (anchor, positive), the nearest negative farther than the positive
                        (within the margin band when one exists), else the farthest negative
                        (Schroff et al. 2015, FaceNet).
    Relations: N-pair and InfoNCE replace the single hinge by a softmax over all negatives.
    References: Schroff, Kalenichenko, Philbin. FaceNet. CVPR 2015; Hermans, Beyer, Leibe. In
    Defense of the Triplet Loss for Person Re-Identification. 2017.
    """

    def __init__(self, margin: float = 0.2, distance: str = "cosine", selection: str = "all") -> None:
        super().__init__()
        if selection not in SELECTIONS:
            raise ValueError(f"selection must be one of {SELECTIONS}, got {selection!r}")
        if margin < 0:
            raise ValueError(f"margin must be >= 0, got {margin}")
        self.margin = margin
        self.distance = distance
        self.selection = selection

    def forward(self, anchors, candidates, pos_mask=None, neg_mask=None) -> torch.Tensor:
        pos_mask, neg_mask = check_contrastive_inputs(anchors, candidates, pos_mask, neg_mask)
        d = pairwise_distance(anchors, candidates, self.distance)  # (N, M)
        has_neg = neg_mask.any(dim=1)  # rows without negatives form no triplet: no loss, no gradient
        if not bool(has_neg.any()):
            return d.sum() * 0.0  # nothing to contrast in this batch; backward still works
        if self.selection == "batch_hard":
            hardest_pos = d.masked_fill(~pos_mask, float("-inf")).amax(dim=1)  # (N,)
            hardest_neg = d.masked_fill(~neg_mask, float("inf")).amin(dim=1)
            return (hardest_pos - hardest_neg + self.margin).clamp(min=0)[has_neg].mean()
        d_ap = d.unsqueeze(2)  # (N, M, 1): anchor-positive at [i, p]
        d_an = d.unsqueeze(1)  # (N, 1, M): anchor-negative at [i, n]
        valid = pos_mask.unsqueeze(2) & neg_mask.unsqueeze(1)  # (N, M, M)
        if self.selection == "all":
            losses = (d_ap - d_an + self.margin).clamp(min=0)
            return losses[valid].mean()
        farther = valid & (d_an > d_ap)
        semi_hard = d_an.expand_as(valid).masked_fill(~farther, float("inf")).amin(dim=2)  # (N, M)
        fallback = d.masked_fill(~neg_mask, float("-inf")).amax(dim=1, keepdim=True).expand_as(semi_hard)
        chosen = torch.where(torch.isfinite(semi_hard), semi_hard, fallback)
        pairs = pos_mask & has_neg.unsqueeze(1)
        return (d - chosen + self.margin).clamp(min=0)[pairs].mean()
