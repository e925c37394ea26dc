"""SimSiam negative-cosine loss (Chen & He 2021)."""
from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F

from multicl.objectives.base import check_paired_views, refuse_masks


class SimSiamLoss(nn.Module):
    """``-cos(prediction, target)`` averaged over the batch (range [-1, 1]).

    Inputs: ``view_a`` = predictor output (N, D) for one view, ``view_b`` = projection (N, D)
    of the other view. SimSiam's stop-gradient on ``view_b`` is applied by the method
    (:class:`~multicl.train.siamese.SiameseLearner`, ``stop_gradient=True``); without it the
    model collapses. Masks are refused.
    Relations: BYOL without the momentum encoder.
    Reference: Chen, He. Exploring Simple Siamese Representation Learning. CVPR 2021.
    """

    def forward(self, view_a, view_b, pos_mask=None, neg_mask=None) -> torch.Tensor:
        refuse_masks("SimSiam", pos_mask, neg_mask)
        check_paired_views("SimSiam", view_a, view_b)
        with torch.autocast(view_a.device.type, enabled=False):
            return -F.cosine_similarity(view_a.float(), view_b.float(), dim=-1).mean()
