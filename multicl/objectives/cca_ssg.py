"""CCA-SSG (Zhang et al. 2021): canonical-correlation objective between two graph views.

``-trace(Z_a^T Z_b) / N + lambda_decorrelation * (||Z_a^T Z_a / N - I||^2 + ||Z_b^T Z_b / N - I||^2)``
with each view standardised per dimension over the batch (nodes). The invariance term pulls the
views together; the decorrelation term keeps each view's dimensions uncorrelated with unit
variance (no collapse) -- no negatives, no predictor, no EMA, no projector (the encoder output
is used directly). Masks are refused. Relations: Barlow Twins puts the identity constraint on
the cross-correlation instead; VICReg splits variance and covariance.
Reference: Zhang, Wu, Yang, Ma, Yu, Wang. From Canonical Correlation Analysis to Self-supervised
Graph Neural Networks. NeurIPS 2021 (Cora: lambda = 1e-3, 512 dims, 50 epochs).
"""
from __future__ import annotations

import torch
from torch import nn

from multicl.objectives.base import check_paired_views, refuse_masks, standardize_columns


class CCASSGLoss(nn.Module):
    def __init__(self, lambda_decorrelation: float = 1e-3) -> None:
        super().__init__()
        if lambda_decorrelation < 0:
            raise ValueError(f"lambda_decorrelation must be >= 0, got {lambda_decorrelation}")
        self.lambda_decorrelation = lambda_decorrelation

    def forward(self, view_a, view_b, pos_mask=None, neg_mask=None) -> torch.Tensor:
        refuse_masks("CCA-SSG", pos_mask, neg_mask)
        check_paired_views("CCA-SSG", view_a, view_b)
        with torch.autocast(view_a.device.type, enabled=False):
            a, b = view_a.float(), view_b.float()
            n, d = a.shape
            a, b = standardize_columns(a, unbiased=True), standardize_columns(b, unbiased=True)
            invariance = -torch.trace(a.T @ b) / n
            eye = torch.eye(d, device=a.device)
            decorrelation = (a.T @ a / n - eye).pow(2).sum() + (b.T @ b / n - eye).pow(2).sum()
        return invariance + self.lambda_decorrelation * decorrelation
