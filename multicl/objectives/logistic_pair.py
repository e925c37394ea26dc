"""Logistic (binary cross-entropy) pair loss: each pair is an independent yes/no question."""
from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F

from multicl.objectives.base import check_contrastive_inputs, pairwise_similarity
from multicl.objectives.temperature import make_temperature


class LogisticPairLoss(nn.Module):
    """``-mean_pos log sigmoid(z) - mean_neg log sigmoid(-z)``, ``z = s / t + bias``.

    Inputs as InfoNCE. No softmax couples the candidates, so the loss does not need large
    batches and treats every negative independently (word2vec's negative sampling; SigLIP
    with a learnable temperature and bias). ``balance=True`` averages positives and negatives
    separately (negative-sampling style); ``False`` averages all pairs together (SigLIP).
    References: Mikolov et al. 2013 (negative sampling); Zhai et al. Sigmoid Loss for Language
    Image Pre-Training. ICCV 2023.
    """

    def __init__(
        self,
        temperature: float = 0.1,
        bias: float = 0.0,
        learnable: bool = False,
        balance: bool = True,
        similarity: str = "cosine",
    ) -> None:
        super().__init__()
        self.temperature = make_temperature(temperature, learnable)
        bias_t = torch.tensor(float(bias))
        if learnable:
            self.bias = nn.Parameter(bias_t)
        else:
            self.register_buffer("bias", bias_t)
        self.balance = balance
        self.similarity = similarity

    def forward(self, anchors, candidates, pos_mask=None, neg_mask=None) -> torch.Tensor:
        pos_mask, neg_mask = check_contrastive_inputs(anchors, candidates, pos_mask, neg_mask)
        pos_mask = pos_mask & neg_mask.any(dim=1, keepdim=True)  # rows without negatives add nothing
        z = pairwise_similarity(anchors, candidates, self.similarity) / self.temperature() + self.bias
        pos_loss = F.softplus(-z) * pos_mask  # -log sigmoid(z)
        neg_loss = F.softplus(z) * neg_mask  # -log sigmoid(-z)
        if self.balance:
            return pos_loss.sum() / pos_mask.sum().clamp(min=1) + neg_loss.sum() / neg_mask.sum().clamp(min=1)
        return (pos_loss.sum() + neg_loss.sum()) / neg_mask.any(dim=1).sum().clamp(min=1)
