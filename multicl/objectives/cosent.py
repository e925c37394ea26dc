"""CoSENT (Su 2022): rank pairs by similarity in the order of their gold scores."""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn
import torch.nn.functional as F

from multicl.objectives.base import check_contrastive_inputs, pairwise_similarity


def rowwise_cosine(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """cos(a_i, b_i) for paired rows, in float32 with autocast off (N,)."""
    with torch.autocast(a.device.type, enabled=False):
        return F.cosine_similarity(a.float(), b.float(), dim=-1)


def check_scored_inputs(anchors: torch.Tensor, candidates: torch.Tensor, scores: torch.Tensor,
                        pos_mask: torch.Tensor | None, neg_mask: torch.Tensor | None) -> torch.Tensor:
    """Validate ``(anchors (N, D), candidates (N, D), scores (N,))``; return float32 scores."""
    if pos_mask is not None or neg_mask is not None:
        raise ValueError("give either scores (row i of anchors and candidates is a scored pair) or masks, not both")
    if anchors.dim() != 2 or candidates.shape != anchors.shape:
        raise ValueError(f"scored pairs need anchors and candidates of the same shape (N, D); got "
                         f"{tuple(anchors.shape)} and {tuple(candidates.shape)}")
    scores = torch.as_tensor(scores, device=anchors.device)
    if scores.shape != (anchors.shape[0],):
        raise ValueError(f"scores must have shape ({anchors.shape[0]},), one per pair; got {tuple(scores.shape)}")
    if not bool(torch.isfinite(scores).all()):
        raise ValueError("scores contain NaN or inf")
    return scores.float()


def ranking_loss(sims: torch.Tensor, scores: torch.Tensor, scale: float) -> torch.Tensor:
    """``log(1 + sum_{(u, v): score_u > score_v} exp(scale * (s_v - s_u)))`` over entries u, v."""
    higher = scores[:, None] > scores[None, :]  # (K, K): u above v
    if not bool(higher.any()):
        return sims.sum() * 0.0  # all scores tied: nothing to rank
    diff = scale * (sims[None, :] - sims[:, None])  # [u, v] = scale * (s_v - s_u)
    terms = torch.cat([diff.new_zeros(1), diff[higher]])
    return torch.logsumexp(terms, dim=0)


def binary_ranking_loss(sims: torch.Tensor, pos_mask: torch.Tensor, neg_mask: torch.Tensor, scale: float) -> torch.Tensor:
    """The ranking loss with score 1 on ``pos_mask`` cells and 0 on ``neg_mask`` cells:
    ``log(1 + sum_pos sum_neg exp(scale (s_n - s_p))) = softplus(lse_n(scale s_n) + lse_p(-scale s_p))``."""
    if not bool(pos_mask.any()) or not bool(neg_mask.any()):
        return sims.sum() * 0.0
    z = scale * sims
    return F.softplus(torch.logsumexp(z[neg_mask], dim=0) + torch.logsumexp(-z[pos_mask], dim=0))


class CoSENT(nn.Module):
    """``log(1 + sum_{score_i > score_j} exp(scale * (s_j - s_i)))``, over every two pairs of a batch.

    Scored pairs: ``forward(anchors (N, D), candidates (N, D), scores=(N,))``, ``s_i`` the cosine
    of pair i. Only the order of the scores matters (any scale: STS-B 0-5, SICK 1-5, [0, 1]).
    Without scores (the contrastive call of the registry): cells of ``pos_mask`` count as score 1
    and cells of ``neg_mask`` as score 0 across the whole (N, M) similarity matrix, so every
    positive is ranked above every negative; nothing to rank gives 0.
    ``similarity``: a ``(N, D) x (N, D) -> (N,)`` function of paired rows (default cosine);
    AnglE's ranking term is this loss with the angle similarity.
    Relations: sentence-transformers' CoSENTLoss (``scale=20``) equals this loss.
    Reference: Su, J. CoSENT (2022), https://kexue.fm/archives/8847; Huang et al. 2024.
    """

    uses_scores = True

    def __init__(self, scale: float = 20.0, similarity: str = "cosine") -> None:
        super().__init__()
        if scale <= 0:
            raise ValueError(f"scale must be positive, got {scale}")
        if similarity not in ("cosine", "angle"):
            raise ValueError(f"similarity must be 'cosine' or 'angle', got {similarity!r}")
        self.scale = float(scale)
        self.similarity = similarity

    def _paired(self) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
        if self.similarity == "angle":
            from multicl.objectives.angle import rowwise_angle_similarity

            return rowwise_angle_similarity
        return rowwise_cosine

    def _matrix(self, a: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        if self.similarity == "angle":
            from multicl.objectives.angle import pairwise_angle_similarity

            return pairwise_angle_similarity(a, c)
        return pairwise_similarity(a, c, "cosine")

    def forward(self, anchors, candidates, pos_mask=None, neg_mask=None, scores=None) -> torch.Tensor:
        if scores is not None:
            scores = check_scored_inputs(anchors, candidates, scores, pos_mask, neg_mask)
            return ranking_loss(self._paired()(anchors, candidates), scores, self.scale)
        pos_mask, neg_mask = check_contrastive_inputs(anchors, candidates, pos_mask, neg_mask)
        return binary_ranking_loss(self._matrix(anchors, candidates), pos_mask, neg_mask, self.scale)
