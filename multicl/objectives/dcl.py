"""Decoupled contrastive loss (Yeh et al. 2022): InfoNCE without the positive in the denominator."""
from __future__ import annotations

import torch
from torch import nn

from multicl.objectives.base import masked_logsumexp, mean_over_rows_with_negatives, pairwise_similarity, two_view_masks
from multicl.objectives.temperature import make_temperature


class DCL(nn.Module):
    """``-s_p/t + log sum_n exp(s_n/t)`` for each of the 2N embeddings of two views.

    Removing the positive from the denominator removes the "negative-positive coupling" that
    makes InfoNCE need large batches: the gradient no longer shrinks when the positive is
    already easy. The value can be negative (it is not a log-probability).
    Inputs: view a (N, D), view b (N, D), optional instance-level (N, N) masks. A row whose
    negatives are all masked adds nothing (it would be ``-inf``) and is left out of the mean.
    Relations: NT-Xent with the positive dropped from the partition function.
    Reference: Yeh et al. Decoupled Contrastive Learning. ECCV 2022.
    """

    two_view = True

    def __init__(self, temperature: float = 0.1, similarity: str = "cosine") -> None:
        super().__init__()
        self.temperature = make_temperature(temperature)
        self.similarity = similarity

    def forward(self, anchors, candidates, pos_mask=None, neg_mask=None) -> torch.Tensor:
        if anchors.shape != candidates.shape:
            raise ValueError(f"DCL pairs view a with view b: shapes must match, got {tuple(anchors.shape)} and {tuple(candidates.shape)}")
        pos, neg = two_view_masks(anchors.shape[0], pos_mask, neg_mask, anchors.device)
        z = torch.cat([anchors, candidates])
        logits = pairwise_similarity(z, z, self.similarity) / self.temperature()
        has_neg = neg.any(dim=1)  # (2N,)
        negative = masked_logsumexp(logits, neg)  # (2N, 1)
        negative = torch.where(has_neg[:, None], negative, torch.zeros_like(negative))  # no -inf on rows without negatives
        per_positive = (negative - logits).masked_fill(~pos, 0.0)
        return mean_over_rows_with_negatives(per_positive.sum(1) / pos.sum(1), has_neg)
