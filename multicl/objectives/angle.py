"""AnglE (Li & Li 2024): CoSENT + in-batch negatives + a ranking of angle differences in complex space."""
from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F

from multicl.objectives.base import check_contrastive_inputs
from multicl.objectives.cosent import CoSENT, binary_ranking_loss, check_scored_inputs, ranking_loss, rowwise_cosine
from multicl.objectives.info_nce import InfoNCE


def _complex_halves(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, D) -> real and imaginary halves (N, ceil(D/2)); an odd D gets a zero last imaginary part."""
    x = x.float()
    if x.shape[-1] % 2:
        x = F.pad(x, (0, 1))
    re, im = torch.chunk(x, 2, dim=-1)
    return re, im


def rowwise_angle_similarity(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """AnglE's similarity of paired rows: ``|sum_k Re(w_k) + Im(w_k)|`` with ``w = (x / y)``
    element-wise in complex space (x = a + bi, y = c + di), rescaled by ``|y| / |x|``; equals
    ``|(a + b).c + (b - a).d| / (|x| |y|)``. Float32, autocast off. (N,)"""
    with torch.autocast(x.device.type, enabled=False):
        a, b = _complex_halves(x)
        c, d = _complex_halves(y)
        norm = (a.square() + b.square()).sum(-1).sqrt() * (c.square() + d.square()).sum(-1).sqrt()
        return (((a + b) * c).sum(-1) + ((b - a) * d).sum(-1)).abs() / norm.clamp(min=1e-12)


def pairwise_angle_similarity(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """:func:`rowwise_angle_similarity` of every row of x (N, D) with every row of y (M, D): (N, M)."""
    with torch.autocast(x.device.type, enabled=False):
        a, b = _complex_halves(x)
        c, d = _complex_halves(y)
        nx = (a.square() + b.square()).sum(-1).sqrt()
        ny = (c.square() + d.square()).sum(-1).sqrt()
        return ((a + b) @ c.T + (b - a) @ d.T).abs() / (nx[:, None] * ny[None, :]).clamp(min=1e-12)


class AnglE(nn.Module):
    """``cosine_weight * CoSENT(scale=cosine_scale) + ibn_weight * in-batch InfoNCE(scale=ibn_scale)
    + angle_weight * CoSENT over angle similarities(scale=angle_scale)``.

    Defaults follow the AnglE paper's first released code: weights 1, 1, 1, scales 20 (tau
    0.05), 20 and 1 (later ``angle_emb`` releases reweight the terms). The angle term divides the two embeddings of a pair element-wise as
    complex vectors (first half real, second half imaginary) and ranks the pairs by the summed
    normalised quotient, which keeps a gradient where cosine saturates.
    Scored pairs: ``forward(anchors, candidates, scores=(N,))``; the in-batch term uses the
    pairs with ``score >= ibn_min_score`` (default 0.8: scores scaled to [0, 1], e.g. STS-B
    >= 4 of 5) as positives against every other pair's second sentence. Without scores (the
    registry's contrastive call), ``pos_mask`` / ``neg_mask`` cells are scores 1 / 0 and the
    in-batch term is InfoNCE with those masks.
    Relations: sentence-transformers' AnglELoss is the angle term alone with ``scale=20``
    (``AnglE(cosine_weight=0, ibn_weight=0, angle_scale=20)``).
    Reference: Li, X. and Li, J. AnglE-optimized Text Embeddings. ACL 2024 (arXiv 2309.12871).
    """

    uses_scores = True

    def __init__(
        self,
        cosine_weight: float = 1.0,
        ibn_weight: float = 1.0,
        angle_weight: float = 1.0,
        cosine_scale: float = 20.0,
        ibn_scale: float = 20.0,
        angle_scale: float = 1.0,
        ibn_min_score: float = 0.8,
    ) -> None:
        super().__init__()
        if min(cosine_weight, ibn_weight, angle_weight) < 0 or cosine_weight + ibn_weight + angle_weight == 0:
            raise ValueError("AnglE weights must be >= 0 and not all 0")
        self.cosine_weight, self.ibn_weight, self.angle_weight = float(cosine_weight), float(ibn_weight), float(angle_weight)
        self.cosent = CoSENT(scale=cosine_scale)
        self.angle = CoSENT(scale=angle_scale, similarity="angle")
        self.ibn = InfoNCE(temperature=1.0 / ibn_scale)
        self.ibn_min_score = float(ibn_min_score)

    def forward(self, anchors, candidates, pos_mask=None, neg_mask=None, scores=None) -> torch.Tensor:
        if scores is not None:
            scores = check_scored_inputs(anchors, candidates, scores, pos_mask, neg_mask)
            n = anchors.shape[0]
            total = rowwise_cosine(anchors, candidates).sum() * 0.0
            if self.cosine_weight:
                total = total + self.cosine_weight * ranking_loss(rowwise_cosine(anchors, candidates), scores, self.cosent.scale)
            if self.angle_weight:
                total = total + self.angle_weight * ranking_loss(rowwise_angle_similarity(anchors, candidates), scores, self.angle.scale)
            if self.ibn_weight:
                eye = torch.eye(n, dtype=torch.bool, device=anchors.device)
                neg = ~eye & (scores >= self.ibn_min_score)[:, None]  # rows below the threshold: no term
                total = total + self.ibn_weight * self.ibn(anchors, candidates, pos_mask=eye, neg_mask=neg)
            return total
        pos_mask, neg_mask = check_contrastive_inputs(anchors, candidates, pos_mask, neg_mask)
        total = anchors.float().sum() * 0.0
        if self.cosine_weight:
            total = total + self.cosine_weight * self.cosent(anchors, candidates, pos_mask, neg_mask)
        if self.angle_weight:
            total = total + self.angle_weight * binary_ranking_loss(
                pairwise_angle_similarity(anchors, candidates), pos_mask, neg_mask, self.angle.scale)
        if self.ibn_weight:
            total = total + self.ibn_weight * self.ibn(anchors, candidates, pos_mask, neg_mask)
        return total
