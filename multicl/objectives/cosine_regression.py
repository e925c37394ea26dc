"""Cosine-similarity regression: the mean squared error between a pair's cosine and its score."""
from __future__ import annotations

import torch
from torch import nn

from multicl.objectives.base import check_contrastive_inputs, pairwise_similarity
from multicl.objectives.cosent import check_scored_inputs, rowwise_cosine


class CosineRegression(nn.Module):
    """``mean_i (cos(a_i, b_i) - score_i)^2``.

    Scored pairs: ``forward(anchors (N, D), candidates (N, D), scores=(N,))`` with scores on the
    cosine's scale (the recipe maps a file's score range to [0, 1]; ``score_range=(lo, hi)``
    maps raw scores here instead). Without scores (the registry's contrastive call):
    ``pos_mask`` cells have target 1 and ``neg_mask`` cells 0, over the rows that have a
    negative (the library's rule: rows without negatives add nothing; 0 when none has one).
    ``loss="l1"`` gives the absolute error.
    Relations: sentence-transformers' CosineSimilarityLoss (MSE) equals this loss; unlike CoSENT
    it pins absolute cosines, not only their order.
    Reference: Reimers and Gurevych. Sentence-BERT. EMNLP 2019.
    """

    uses_scores = True

    def __init__(self, loss: str = "mse", score_range: tuple[float, float] | None = None) -> None:
        super().__init__()
        if loss not in ("mse", "l1"):
            raise ValueError(f"loss must be 'mse' or 'l1', got {loss!r}")
        if score_range is not None and not score_range[0] < score_range[1]:
            raise ValueError(f"score_range must be (lo, hi) with lo < hi, got {score_range}")
        self.loss = loss
        self.score_range = score_range

    def _error(self, diff: torch.Tensor) -> torch.Tensor:
        return diff.square() if self.loss == "mse" else diff.abs()

    def forward(self, anchors, candidates, pos_mask=None, neg_mask=None, scores=None) -> torch.Tensor:
        if scores is not None:
            scores = check_scored_inputs(anchors, candidates, scores, pos_mask, neg_mask)
            if self.score_range is not None:
                lo, hi = self.score_range
                scores = (scores - lo) / (hi - lo)
            return self._error(rowwise_cosine(anchors, candidates) - scores).mean()
        pos_mask, neg_mask = check_contrastive_inputs(anchors, candidates, pos_mask, neg_mask)
        rows = neg_mask.any(dim=1, keepdim=True)
        pos, neg = pos_mask & rows, neg_mask & rows
        sims = pairwise_similarity(anchors, candidates, "cosine")
        if not bool(rows.any()):
            return sims.sum() * 0.0
        err = self._error(sims - pos.float())
        return err[pos | neg].mean()
