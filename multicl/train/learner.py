"""ContrastiveLearner: encoder + projection head + objective + false-negative policy -> loss."""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from multicl.negatives.masks import FalseNegativePolicy


class ContrastiveLearner(nn.Module):
    """Turns an adapter batch (see :mod:`multicl.modalities.base`) into a scalar loss.

    All rows (anchor views, positive views, hard negatives) go through the encoder in one
    forward pass. Candidates are the N positive views followed by the H hard negatives;
    ``policy`` removes false negatives (same instance, duplicate text/group, same label...).
    After each call ``last_stats`` holds what was masked, for logging.
    """

    def __init__(
        self,
        encoder: nn.Module,
        objective: nn.Module,
        head: nn.Module | None = None,
        policy: FalseNegativePolicy | None = None,
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = head if head is not None else nn.Identity()
        self.objective = objective
        self.policy = policy if policy is not None else FalseNegativePolicy()
        self.last_stats: dict[str, float] = {}

    def embed(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.head(self.encoder(inputs))

    def forward(self, batch: dict[str, Any]) -> torch.Tensor:
        n = int(batch["num_anchors"])
        h = int(batch.get("num_hard_negatives", 0))
        z = self.embed(batch["inputs"])  # (2N + H, D)
        if z.shape[0] != 2 * n + h:
            raise ValueError(f"encoder returned {z.shape[0]} rows for a batch of 2*{n}+{h}")
        anchors, candidates = z[:n], z[n:]
        anchor_meta = batch["anchor_meta"]
        candidate_meta = anchor_meta
        if h:
            hard_meta = batch["hard_negative_meta"]
            candidate_meta = {k: torch.cat([anchor_meta[k], hard_meta[k]]) for k in anchor_meta if k in hard_meta}
        pos_mask = torch.zeros(n, n + h, dtype=torch.bool, device=z.device)
        pos_mask[:, :n] = torch.eye(n, dtype=torch.bool, device=z.device)
        neg_mask, dropped = self.policy.negative_mask(
            {k: v.to(z.device) for k, v in anchor_meta.items()},
            {k: v.to(z.device) for k, v in candidate_meta.items()},
            pos_mask,
        )
        self.last_stats = {f"masked_{k}": float(v) for k, v in dropped.items() if k != "same_instance"}
        self.last_stats["negatives_per_anchor"] = float(neg_mask.sum()) / n
        return self.objective(anchors, candidates, pos_mask=pos_mask, neg_mask=neg_mask)
