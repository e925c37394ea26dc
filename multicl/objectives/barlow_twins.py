"""Barlow Twins (Zbontar et al. 2021): make the cross-correlation of the views the identity."""
from __future__ import annotations

import torch
from torch import nn

from multicl.objectives.base import check_paired_views, refuse_masks, standardize_columns


class BarlowTwinsLoss(nn.Module):
    """``sum_i (1 - C_ii)^2 + lambda_offdiag * sum_{i != j} C_ij^2``, C the (D, D)
    cross-correlation of the batch-standardised views.

    Inputs: two paired views (N, D) (projector outputs; the paper uses D = 8192, any D works).
    Invariance comes from the diagonal, redundancy reduction (no collapse) from the
    off-diagonal term; no negatives, no stop-gradient, no predictor. Masks are refused.
    ``scale_loss`` multiplies the total (1.0 here; some implementations use 1/32 or 0.024).
    Relations: VICReg splits the same idea into variance and covariance terms.
    Reference: Zbontar, Jing, Misra, LeCun, Deny. Barlow Twins. ICML 2021.
    """

    def __init__(self, lambda_offdiag: float = 5e-3, scale_loss: float = 1.0) -> None:
        super().__init__()
        self.lambda_offdiag = lambda_offdiag
        self.scale_loss = scale_loss

    def forward(self, view_a, view_b, pos_mask=None, neg_mask=None) -> torch.Tensor:
        refuse_masks("Barlow Twins", pos_mask, neg_mask)
        check_paired_views("Barlow Twins", view_a, view_b)
        with torch.autocast(view_a.device.type, enabled=False):
            a, b = view_a.float(), view_b.float()
            n = a.shape[0]
            a, b = standardize_columns(a, unbiased=False), standardize_columns(b, unbiased=False)
            c = a.T @ b / n  # (D, D)
            diagonal = torch.diagonal(c)
            on = (1 - diagonal).pow(2).sum()
            off = c.pow(2).sum() - diagonal.pow(2).sum()
        return self.scale_loss * (on + self.lambda_offdiag * off)
