"""NT-Xent (Chen et al. 2020, SimCLR): symmetric InfoNCE over both views of N samples."""
from __future__ import annotations

import torch
from torch import nn

from multicl.objectives.base import masked_logsumexp, mean_over_rows_with_negatives, pairwise_similarity, two_view_masks
from multicl.objectives.temperature import make_temperature


class NTXent(nn.Module):
    """Normalised-temperature cross-entropy over the 2N x 2N similarity matrix.

    Inputs: ``anchors`` = view a (N, D) and ``candidates`` = view b (N, D) of the same N
    samples. Each of the 2N embeddings has its other view as positive and the 2N - 2
    remaining embeddings (of both views) as negatives; the row's own column is excluded.
    Optional (N, N) instance-level ``pos_mask`` / ``neg_mask`` (e.g. from the false-negative
    policy) are applied to all four view-pair blocks.

    Relations: InfoNCE in both directions plus same-view negatives; SupCon with every sample
    its own class is exactly NT-Xent; DCL removes the positive from the denominator.
    Reference: Chen, Kornblith, Norouzi, Hinton. A Simple Framework for Contrastive Learning
    of Visual Representations. ICML 2020.
    """

    two_view = True

    def __init__(self, temperature: float = 0.1, learnable_temperature: bool = False, similarity: str = "cosine") -> None:
        super().__init__()
        self.temperature = make_temperature(temperature, learnable_temperature)
        self.similarity = similarity

    def forward(self, anchors, candidates, pos_mask=None, neg_mask=None) -> torch.Tensor:
        if anchors.shape != candidates.shape:
            raise ValueError(f"NT-Xent pairs view a with view b: shapes must match, got {tuple(anchors.shape)} and {tuple(candidates.shape)}")
        n = anchors.shape[0]
        pos, neg = two_view_masks(n, pos_mask, neg_mask, anchors.device)
        z = torch.cat([anchors, candidates])  # (2N, D)
        logits = pairwise_similarity(z, z, self.similarity) / self.temperature()  # (2N, 2N)
        denominator = masked_logsumexp(logits, pos | neg)  # (2N, 1)
        per_positive = (denominator - logits).masked_fill(~pos, 0.0)  # -log softmax at each positive
        return mean_over_rows_with_negatives(per_positive.sum(1) / pos.sum(1), neg.any(dim=1))  # (2N,) rows
