"""VICReg (Bardes, Ponce, LeCun 2022): variance, invariance, covariance regularisation."""
from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F

from multicl.objectives.base import check_paired_views, refuse_masks


class VICRegLoss(nn.Module):
    """``sim_coeff * MSE(a, b) + std_coeff * variance + cov_coeff * covariance`` where
    variance = mean_d relu(gamma - sqrt(var_d + eps)) per view (keeps every dimension alive)
    and covariance = sum of squared off-diagonal covariances / D per view (decorrelates).

    Inputs: two paired views (N, D). Masks are refused. Defaults are the paper's (25, 25, 1).
    Relations: Barlow Twins' redundancy reduction, with an explicit variance hinge that
    prevents collapse without batch standardisation.
    Reference: Bardes, Ponce, LeCun. VICReg. ICLR 2022.
    """

    def __init__(self, sim_coeff: float = 25.0, std_coeff: float = 25.0, cov_coeff: float = 1.0, gamma: float = 1.0, eps: float = 1e-4) -> None:
        super().__init__()
        self.sim_coeff, self.std_coeff, self.cov_coeff = sim_coeff, std_coeff, cov_coeff
        self.gamma, self.eps = gamma, eps

    def forward(self, view_a, view_b, pos_mask=None, neg_mask=None) -> torch.Tensor:
        refuse_masks("VICReg", pos_mask, neg_mask)
        check_paired_views("VICReg", view_a, view_b)
        with torch.autocast(view_a.device.type, enabled=False):
            a, b = view_a.float(), view_b.float()
            invariance = F.mse_loss(a, b)
            variance = torch.tensor(0.0, device=a.device)
            covariance = torch.tensor(0.0, device=a.device)
            n, d = a.shape
            for z in (a, b):
                z = z - z.mean(0)
                std = torch.sqrt(z.var(0) + self.eps)
                variance = variance + F.relu(self.gamma - std).mean() / 2
                cov = z.T @ z / (n - 1)  # (D, D)
                covariance = covariance + (cov.pow(2).sum() - torch.diagonal(cov).pow(2).sum()) / d
        return self.sim_coeff * invariance + self.std_coeff * variance + self.cov_coeff * covariance
