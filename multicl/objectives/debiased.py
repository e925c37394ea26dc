"""Debiased contrastive loss (Chuang et al. 2020): corrects for false negatives by a class prior."""
from __future__ import annotations

import math

import torch
from torch import nn
import torch.nn.functional as F

from multicl.objectives.base import check_contrastive_inputs, masked_logsumexp, mean_over_rows_with_negatives, pairwise_similarity
from multicl.objectives.temperature import make_temperature


class DebiasedContrastive(nn.Module):
    """InfoNCE whose negative term estimates the *true* negatives' mass.

    With ``tau_plus`` the prior probability that a random candidate shares the anchor's class,
    the expected mass of true negatives is estimated as
    ``g = max( (mean_n exp(s_n/t) - tau_plus * exp(s_p/t)) / (1 - tau_plus), exp(-1/t) )``
    and the loss is ``-log( exp(s_p/t) / (exp(s_p/t) + Q * g) )`` with Q the number of
    negatives. Computed in log space (no exp-then-log).
    Inputs as InfoNCE (one positive per row: the mean is over each row's positives otherwise).
    ``tau_plus=0`` gives InfoNCE exactly.
    Reference: Chuang, Robinson, Lin, Torralba, Jegelka. Debiased Contrastive Learning. NeurIPS 2020.
    """

    def __init__(self, temperature: float = 0.1, tau_plus: float = 0.1, similarity: str = "cosine") -> None:
        super().__init__()
        if not 0.0 <= tau_plus < 1.0:
            raise ValueError(f"tau_plus is a class prior in [0, 1), got {tau_plus}")
        self.temperature = make_temperature(temperature)
        self.tau_plus = tau_plus
        self.similarity = similarity

    def forward(self, anchors, candidates, pos_mask=None, neg_mask=None) -> torch.Tensor:
        pos_mask, neg_mask = check_contrastive_inputs(anchors, candidates, pos_mask, neg_mask)
        t = self.temperature()
        logits = pairwise_similarity(anchors, candidates, self.similarity) / t  # (N, M)
        count = neg_mask.sum(dim=1, keepdim=True).clamp(min=1).to(logits.dtype)  # Q per row
        log_mean_neg = masked_logsumexp(logits, neg_mask) - count.log()  # log mean_n exp(s_n)
        # log(mean_neg - tau_plus * exp(s_p)) - log(1 - tau_plus), floored at -1/t
        if self.tau_plus > 0:
            gap = (math.log(self.tau_plus) + logits) - log_mean_neg  # (N, M): log(tau+ e^s_p / mean)
            inner = log_mean_neg + torch.log1p(-gap.clamp(max=-1e-6).exp())
            inner = torch.where(gap < 0, inner, torch.full_like(inner, torch.finfo(inner.dtype).min))
            log_g = inner - math.log(1.0 - self.tau_plus)
        else:
            log_g = log_mean_neg.expand_as(logits)
        log_g = torch.maximum(log_g, (-1.0 / t).expand_as(log_g))  # exp(s/t) >= exp(-1/t) for cosine
        per_positive = F.softplus(count.log() + log_g - logits).masked_fill(~pos_mask, 0.0)
        return mean_over_rows_with_negatives(per_positive.sum(1) / pos_mask.sum(1), neg_mask.any(dim=1))
