"""CLIP-style two-tower symmetric InfoNCE with a learnable temperature."""
from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F

from multicl.objectives.base import check_contrastive_inputs, masked_logsumexp, mean_over_rows_with_negatives, pairwise_similarity
from multicl.objectives.temperature import make_temperature


class CLIPLoss(nn.Module):
    """``(InfoNCE(a -> b) + InfoNCE(b -> a)) / 2`` for paired inputs of two kinds.

    Inputs: ``anchors`` (N, D) from tower A (e.g. text, user) and ``candidates`` (N, D) from
    tower B (e.g. audio, item); pair i is (a_i, b_i). Optional (N, N) masks are read as
    "a_i vs b_j" and transposed for the b -> a direction. The temperature is learnable by
    default (log-parametrised, initialised at 0.07, clamped to >= 0.01 as CLIP caps the logit
    scale at 100).
    Relations: InfoNCE in both directions; NT-Xent additionally uses same-tower negatives,
    which make no sense across modalities.
    Reference: Radford et al. Learning Transferable Visual Models From Natural Language
    Supervision. ICML 2021.
    """

    def __init__(self, temperature: float = 0.07, learnable_temperature: bool = True, similarity: str = "cosine") -> None:
        super().__init__()
        self.temperature = make_temperature(temperature, learnable_temperature)
        self.similarity = similarity

    def forward(self, anchors, candidates, pos_mask=None, neg_mask=None) -> torch.Tensor:
        if anchors.shape[0] != candidates.shape[0]:
            raise ValueError(f"CLIP pairs a_i with b_i: got {anchors.shape[0]} and {candidates.shape[0]} rows")
        pos_mask, neg_mask = check_contrastive_inputs(anchors, candidates, pos_mask, neg_mask)
        logits = pairwise_similarity(anchors, candidates, self.similarity) / self.temperature()  # (N, N)

        def direction(lg: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
            per_positive = F.softplus(masked_logsumexp(lg, neg) - lg).masked_fill(~pos, 0.0)
            return mean_over_rows_with_negatives(per_positive.sum(1) / pos.sum(1).clamp(min=1), neg.any(dim=1) & pos.any(dim=1))

        return 0.5 * (direction(logits, pos_mask, neg_mask) + direction(logits.T, pos_mask.T, neg_mask.T))
