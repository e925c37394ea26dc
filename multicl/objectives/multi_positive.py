"""Multi-positive InfoNCE (MIL-NCE, Miech et al. 2020): the positives share one numerator."""
from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F

from multicl.objectives.base import check_contrastive_inputs, masked_logsumexp, mean_over_rows_with_negatives, pairwise_similarity
from multicl.objectives.temperature import make_temperature


class MultiPositiveInfoNCE(nn.Module):
    """``-log( sum_p exp(s_p/t) / (sum_p exp(s_p/t) + sum_n exp(s_n/t)) )`` per anchor.

    Inputs as :class:`~multicl.objectives.info_nce.InfoNCE` (anchors (N, D), candidates
    (M, D), bool masks (N, M)). Where InfoNCE gives each positive its own term (each must
    beat every negative), this rewards the anchor for putting its probability mass on *any*
    of its positives: suited to noisy positive sets (several captions, nearby clips, items a
    user interacted with). With one positive per row both are identical.
    Reference: Miech et al. End-to-End Learning of Visual Representations from Uncurated
    Instructional Videos. CVPR 2020.
    """

    def __init__(self, temperature: float = 0.05, learnable_temperature: bool = False, similarity: str = "cosine") -> None:
        super().__init__()
        self.temperature = make_temperature(temperature, learnable_temperature)
        self.similarity = similarity

    def forward(self, anchors, candidates, pos_mask=None, neg_mask=None) -> torch.Tensor:
        pos_mask, neg_mask = check_contrastive_inputs(anchors, candidates, pos_mask, neg_mask)
        logits = pairwise_similarity(anchors, candidates, self.similarity) / self.temperature()
        positive = masked_logsumexp(logits, pos_mask)  # (N, 1)
        negative = masked_logsumexp(logits, neg_mask)
        per_row = F.softplus(negative - positive).squeeze(1)  # (N,)
        return mean_over_rows_with_negatives(per_row, neg_mask.any(dim=1))
