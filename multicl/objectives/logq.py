"""Symmetric InfoNCE with per-candidate logit offsets (logQ-corrected in-batch softmax)."""
from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F

from multicl.objectives.base import check_contrastive_inputs, masked_logsumexp, mean_over_rows_with_negatives, pairwise_similarity
from multicl.objectives.temperature import make_temperature


class LogQCLIPLoss(nn.Module):
    """``(InfoNCE(a -> b) + InfoNCE(b -> a)) / 2`` with ``logit = sim / temperature - offset``.

    Inputs: ``anchors`` (N, D) (users), ``candidates`` (M, D) (items; the first N are the
    anchors' positives, the rest extra negatives such as mined ones), masks (N, M);
    ``logit_offset`` (M,) or (N, M): subtracted from each candidate's logit in a -> b (log q of
    the item: a popular item's logit is *lowered*; the sign a shipped peer once had backwards);
    ``anchor_logit_offset`` (N,): subtracted from each anchor's logit in b -> a (log q of the
    user), which runs over the in-batch N x N block. Offsets of 0 (or None) give CLIP's loss.
    The learner passes both from the candidate / anchor metadata (``uses_logit_offsets``).
    ``symmetric=False``: a -> b only (the usual retrieval loss).
    Reference: Yi et al. Sampling-Bias-Corrected Neural Modeling for Large Corpus Item
    Recommendations. RecSys 2019.
    """

    uses_logit_offsets = True

    def __init__(self, temperature: float = 0.07, learnable_temperature: bool = True, similarity: str = "cosine",
                 symmetric: bool = True) -> None:
        super().__init__()
        self.temperature = make_temperature(temperature, learnable_temperature)
        self.similarity = similarity
        self.symmetric = symmetric

    def forward(self, anchors, candidates, pos_mask=None, neg_mask=None, logit_offset=None, anchor_logit_offset=None) -> torch.Tensor:
        n = anchors.shape[0]
        pos_mask, neg_mask = check_contrastive_inputs(anchors, candidates, pos_mask, neg_mask)
        logits = pairwise_similarity(anchors, candidates, self.similarity) / self.temperature()  # (N, M)
        forward_logits = logits if logit_offset is None else logits - _columns(logit_offset, logits)
        loss = _direction(forward_logits, pos_mask, neg_mask)
        if not self.symmetric:
            return loss
        square = logits[:, :n]  # (N, N) in-batch block: rows anchors, columns their positives
        backward_logits = square.T if anchor_logit_offset is None else square.T - _columns(anchor_logit_offset, square)
        return 0.5 * (loss + _direction(backward_logits, pos_mask[:, :n].T, neg_mask[:, :n].T))


def _columns(offset: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    offset = offset.to(logits.device, logits.dtype)
    return offset.reshape(1, -1) if offset.ndim == 1 else offset


def _direction(lg: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
    per_positive = F.softplus(masked_logsumexp(lg, neg) - lg).masked_fill(~pos, 0.0)
    return mean_over_rows_with_negatives(per_positive.sum(1) / pos.sum(1).clamp(min=1), neg.any(dim=1) & pos.any(dim=1))
