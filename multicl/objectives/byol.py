"""BYOL regression loss (Grill et al. 2020)."""
from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F

from multicl.objectives.base import check_paired_views, refuse_masks


class BYOLLoss(nn.Module):
    """``2 - 2 cos(prediction, target)`` averaged over the batch.

    Inputs: ``view_a`` = the online network's *prediction* (N, D) for one view and
    ``view_b`` = the *target* projection (N, D) of the other view. The method around it
    (:class:`~multicl.train.siamese.SiameseLearner`) supplies the predictor, the EMA target
    network and the stop-gradient, and symmetrises over the two views. No negatives: masks
    are refused. Without the predictor (or the EMA/stop-gradient) BYOL collapses to a
    constant; the collapse monitor detects it.
    Relations: SimSiam is the same loss (up to ``2 - 2x`` vs ``-x``) without the EMA target.
    Reference: Grill et al. Bootstrap Your Own Latent. NeurIPS 2020.
    """

    def forward(self, view_a, view_b, pos_mask=None, neg_mask=None) -> torch.Tensor:
        refuse_masks("BYOL", pos_mask, neg_mask)
        check_paired_views("BYOL", view_a, view_b)
        with torch.autocast(view_a.device.type, enabled=False):
            cos = F.cosine_similarity(view_a.float(), view_b.float(), dim=-1)
        return (2 - 2 * cos).mean()
