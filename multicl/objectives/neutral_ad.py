"""NeuTraL-AD's deterministic contrastive loss (DCL; Qiu et al. 2021, "Neural Transformation
Learning for Deep Anomaly Detection Beyond Images", eq. 2).

Input: ``z (N, K + 1, D)``: per row, the embedding of the row itself (``z[:, 0]``) and of its
``K`` learned transformations (``z[:, 1:]``). For each transformation ``k``, with ``h`` the
cosine similarity and ``t`` the temperature,

    loss_k = -log  exp(h(z_k, z_0)/t) / (exp(h(z_k, z_0)/t) + sum_{l != k, l >= 1} exp(h(z_k, z_l)/t))

A row's loss is ``sum_k loss_k``; it is also the row's anomaly score (higher = more anomalous):
the transformations stay recognisable (close to their row, apart from each other) on the data
they were learned on, less so off it. Not a pairwise objective: no masks, no candidates.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class NeuTraLADLoss(nn.Module):
    """``forward(z) -> scalar`` (mean row loss); ``row_scores(z) -> (N,)`` (the anomaly scores).

    Args:
        temperature: divides the cosine similarities (the paper and its KDD configs use 0.1).

    The published code also multiplies by the constant ``1 / |K log(1/K)|``; a constant changes
    neither the optimum nor the ranking of rows, so it is left out.
    """

    def __init__(self, temperature: float = 0.1) -> None:
        super().__init__()
        if not temperature > 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        self.temperature = temperature

    def row_scores(self, z: torch.Tensor) -> torch.Tensor:
        if z.dim() != 3 or z.shape[1] < 3:
            raise ValueError(f"NeuTraLADLoss expects z of shape (N, K + 1, D) with K >= 2 transformations, got {tuple(z.shape)}")
        z = F.normalize(z.float(), dim=-1)
        sims = z @ z.transpose(1, 2) / self.temperature  # (N, K+1, K+1)
        views = z.shape[1]
        self_pair = torch.eye(views, dtype=torch.bool, device=z.device)
        sims = sims.masked_fill(self_pair, torch.finfo(sims.dtype).min)  # a view is never its own candidate
        rows = sims[:, 1:]  # (N, K, K+1): transformation k against the row (column 0) and the other transformations
        loss = torch.logsumexp(rows, dim=-1) - rows[:, :, 0]  # (N, K)
        return loss.sum(1)  # (N,)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.row_scores(z).mean()
