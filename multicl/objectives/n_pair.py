"""N-pair loss (Sohn 2016): one positive against the other N-1 pairs' positives, dot product."""
from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F

from multicl.objectives.base import check_contrastive_inputs, masked_logsumexp, mean_over_rows_with_negatives


class NPairLoss(nn.Module):
    """``log(1 + sum_{j != i} exp(a_i . p_j - a_i . p_i))`` + ``l2_reg * mean(|a|^2 + |p|^2)``.

    Inputs as InfoNCE. Unnormalised dot products (the L2 penalty keeps norms bounded).
    Relations: InfoNCE with ``similarity="dot"`` and temperature 1 plus the norm penalty;
    it generalises the triplet loss from one negative to N-1.
    Reference: Sohn. Improved Deep Metric Learning with Multi-class N-pair Loss Objective.
    NeurIPS 2016.
    """

    def __init__(self, l2_reg: float = 0.002) -> None:
        super().__init__()
        if l2_reg < 0:
            raise ValueError(f"l2_reg must be >= 0, got {l2_reg}")
        self.l2_reg = l2_reg

    def forward(self, anchors, candidates, pos_mask=None, neg_mask=None) -> torch.Tensor:
        pos_mask, neg_mask = check_contrastive_inputs(anchors, candidates, pos_mask, neg_mask)
        with torch.autocast(anchors.device.type, enabled=False):
            a, c = anchors.float(), candidates.float()
            logits = a @ c.T  # (N, M)
            negative = masked_logsumexp(logits, neg_mask)
            per_positive = F.softplus(negative - logits).masked_fill(~pos_mask, 0.0)
            loss = mean_over_rows_with_negatives(per_positive.sum(1) / pos_mask.sum(1), neg_mask.any(dim=1))
            penalty = (a.pow(2).sum(1).mean() + c.pow(2).sum(1).mean()) / 2
        return loss + self.l2_reg * penalty
