"""InfoNCE (van den Oord et al. 2018; SimCSE, Gao et al. 2021; MultipleNegativesRanking)."""
from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F

from multicl.objectives.base import check_contrastive_inputs, masked_logsumexp, mean_over_rows_with_negatives, pairwise_similarity
from multicl.objectives.temperature import make_temperature


class InfoNCE(nn.Module):
    """Softmax cross-entropy of each anchor's positive against its negatives.

    Inputs:
        anchors: (N, D) embeddings.
        candidates: (M, D) embeddings, M >= N. With masks left ``None``, column i is row i's
            positive and every other column is a negative, so appending explicit hard
            negatives after the N in-batch positives (M = N + H) uses them for every anchor,
            as supervised SimCSE does.
        pos_mask: optional bool (N, M); several positives per row give one term each
            (each positive against the row's negatives), averaged per row, then over rows.
        neg_mask: optional bool (N, M); candidates in neither mask are ignored
            (this is how false negatives are removed).

    Returns a scalar. For one positive: ``-log(exp(s_p/t) / (exp(s_p/t) + sum_n exp(s_n/t)))``,
    computed as ``softplus(logsumexp_n(s_n/t) - s_p/t)``, which never exponentiates a raw logit.
    With identical embeddings and M candidates all used, the loss is ``log(M)``. Rows without
    a negative add nothing and are left out of the mean (0 when no row has one).

    Relations: equals sentence-transformers' MultipleNegativesRankingLoss with
    ``scale = 1/temperature``; MoCo is this loss with queued keys appended to ``candidates``.
    """

    def __init__(
        self,
        temperature: float = 0.05,
        learnable_temperature: bool = False,
        similarity: str = "cosine",
    ) -> None:
        super().__init__()
        if similarity not in ("cosine", "dot"):
            raise ValueError(f"similarity must be 'cosine' or 'dot', got {similarity!r}")
        self.temperature = make_temperature(temperature, learnable_temperature)
        self.similarity = similarity

    def forward(
        self,
        anchors: torch.Tensor,
        candidates: torch.Tensor,
        pos_mask: torch.Tensor | None = None,
        neg_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        pos_mask, neg_mask = check_contrastive_inputs(anchors, candidates, pos_mask, neg_mask)
        logits = pairwise_similarity(anchors, candidates, self.similarity) / self.temperature()  # (N, M)
        neg_lse = masked_logsumexp(logits, neg_mask)  # (N, 1)
        per_positive = F.softplus(neg_lse - logits)  # (N, M), meaningful where pos_mask
        per_positive = per_positive.masked_fill(~pos_mask, 0.0)
        per_row = per_positive.sum(dim=1) / pos_mask.sum(dim=1)  # (N,)
        return mean_over_rows_with_negatives(per_row, neg_mask.any(dim=1))  # rows without negatives: no loss
