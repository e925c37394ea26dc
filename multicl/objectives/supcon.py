"""Supervised contrastive loss (Khosla et al. 2020): every same-label sample is a positive."""
from __future__ import annotations

import torch
from torch import nn

from multicl.objectives.base import masked_logsumexp, mean_over_rows_with_negatives, pairwise_similarity, two_view_masks
from multicl.objectives.temperature import make_temperature


class SupCon(nn.Module):
    """SupCon "L_out": for each of the 2N embeddings (two views of N samples), the mean over
    its positives p of ``-log(exp(s_p/t) / sum_{a != self} exp(s_a/t))``.

    Inputs: ``anchors`` (view a, (N, D)), ``candidates`` (view b, (N, D)) and either
    ``labels`` (N,) — same label means positive — or an instance-level (N, N) ``pos_mask``;
    with neither it raises (it is not NT-Xent by accident). Rows without negatives add nothing.
    ``neg_mask`` can remove false negatives. ``base_temperature`` reproduces the paper's
    ``t / base_t`` loss scale (None: no scaling).

    Relations: with ``labels = arange(N)`` it is NT-Xent; with labels it is the supervised
    generalisation that SupCon-style fine-tuning of any modality uses.
    Reference: Khosla et al. Supervised Contrastive Learning. NeurIPS 2020.
    """

    two_view = True
    uses_labels = True

    def __init__(self, temperature: float = 0.1, base_temperature: float | None = None, similarity: str = "cosine") -> None:
        super().__init__()
        self.temperature = make_temperature(temperature)
        self.base_temperature = base_temperature
        self.similarity = similarity

    def forward(self, anchors, candidates, pos_mask=None, neg_mask=None, labels: torch.Tensor | None = None) -> torch.Tensor:
        if anchors.shape != candidates.shape:
            raise ValueError(f"SupCon pairs view a with view b: shapes must match, got {tuple(anchors.shape)} and {tuple(candidates.shape)}")
        n = anchors.shape[0]
        if labels is None and pos_mask is None:
            raise ValueError(
                "SupCon needs labels: give the samples labels (labels=(N,) tensor; samples with a label in their "
                "metadata), or an explicit instance-level pos_mask; without labels it would silently be NT-Xent, "
                "so use build_objective('nt_xent') for unlabelled data"
            )
        if labels is not None:
            if pos_mask is not None:
                raise ValueError("give SupCon either labels or pos_mask, not both")
            labels = labels.reshape(-1).to(anchors.device)
            if labels.shape[0] != n:
                raise ValueError(f"labels has {labels.shape[0]} entries for N={n} samples")
            pos_mask = labels[:, None] == labels[None, :]
        pos, neg = two_view_masks(n, pos_mask, neg_mask, anchors.device)
        z = torch.cat([anchors, candidates])
        t = self.temperature()
        logits = pairwise_similarity(z, z, self.similarity) / t  # (2N, 2N)
        denominator = masked_logsumexp(logits, pos | neg)
        per_positive = (denominator - logits).masked_fill(~pos, 0.0)
        loss = mean_over_rows_with_negatives(per_positive.sum(1) / pos.sum(1), neg.any(dim=1))  # (2N,) rows
        if self.base_temperature is not None:
            loss = loss * (t / self.base_temperature)
        return loss
