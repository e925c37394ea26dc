"""Internal contrastive learning (ICL; Shenkar & Wolf 2022, "Anomaly Detection for Tabular Data with
Internal Contrastive Learning", ICLR): the loss, per row.

Input: ``windows (N, W, D)`` and ``complements (N, W, D)``: per row, the embedding of each of its W
windows of consecutive features and of the features outside that window. Within a row, window
``j`` must pick its own complement among the row's W complements (the other windows' complements
are its negatives; nothing is contrasted across rows). With ``h`` the cosine similarity and ``t``
the temperature,

    loss_j = -log  exp(h(a_j, b_j)/t) / sum_l exp(h(a_j, b_l)/t)

A row's loss is the mean over its windows; it is also its anomaly score (higher = more
anomalous): on normal rows the relation between a window and the rest of the row is learned, so
the right complement is found; off the normal data less so.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class InternalContrastiveLoss(nn.Module):
    """``forward(windows, complements) -> scalar`` (mean row loss); ``row_scores(...) -> (N,)``.

    Args:
        temperature: divides the cosine similarities (the authors' code uses 0.01).
    """

    def __init__(self, temperature: float = 0.01) -> None:
        super().__init__()
        if not temperature > 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        self.temperature = temperature

    def row_scores(self, windows: torch.Tensor, complements: torch.Tensor) -> torch.Tensor:
        if windows.dim() != 3 or windows.shape != complements.shape or windows.shape[1] < 2:
            raise ValueError("InternalContrastiveLoss expects windows and complements of one shape (N, W, D) with W >= 2 "
                             f"windows, got {tuple(windows.shape)} and {tuple(complements.shape)}")
        a, b = F.normalize(windows.float(), dim=-1), F.normalize(complements.float(), dim=-1)
        logits = a @ b.transpose(1, 2) / self.temperature  # (N, W, W): window j against every complement of its row
        return (torch.logsumexp(logits, dim=-1) - logits.diagonal(dim1=1, dim2=2)).mean(1)

    def forward(self, windows: torch.Tensor, complements: torch.Tensor) -> torch.Tensor:
        return self.row_scores(windows, complements).mean()
