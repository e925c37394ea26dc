"""ContrastiveLearner: encoder + projection head + objective + false-negative policy -> loss.

Also MoCo: with ``momentum`` the positive views (keys) come from an EMA copy of the encoder
and head; with ``queue_size`` past keys are kept as extra negatives. Queue entries carry their
metadata and go through the same false-negative policy as in-batch candidates.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from multicl.negatives.masks import FalseNegativePolicy
from multicl.negatives.miner import HardNegativeMiner
from multicl.negatives.queue import KeyQueue
from multicl.train.momentum import MomentumEncoder, MomentumSchedule


def slice_rows(inputs: dict[str, torch.Tensor], start: int, end: int) -> dict[str, torch.Tensor]:
    return {k: v[start:end] for k, v in inputs.items()}


class ContrastiveLearner(nn.Module):
    """Turns an adapter batch (see :mod:`multicl.modalities.base`) into a scalar loss.

    Without momentum all rows (anchor views, positive views, hard negatives) go through the
    encoder in one forward pass. Candidates are the N positive views, then the H hard
    negatives, then the queue; ``policy`` removes false negatives (same instance, duplicate
    text/group, same label, temporal window...). Objectives marked ``two_view`` (NT-Xent,
    SupCon, DCL) receive view a and view b with (N, N) masks; ``uses_labels`` ones (SupCon)
    also get ``labels`` from the anchors' metadata.

    Args:
        momentum: a :class:`MomentumSchedule` turns on MoCo's EMA key encoder.
        queue_size: MoCo's queue length (0: none). Must be smaller than the dataset, or the
            queue would mostly hold the current batch's own earlier keys; pass
            ``dataset_size`` to have that checked.
        miner: a :class:`HardNegativeMiner`; its mined negatives are appended to every batch
            as hard negatives and go through ``policy`` with the other candidates. It is
            refreshed with this learner's ``embed`` (eval mode, no gradient) when due.
    After each call ``last_stats`` holds what was masked, for logging.
    """

    def __init__(
        self,
        encoder: nn.Module,
        objective: nn.Module,
        head: nn.Module | None = None,
        policy: FalseNegativePolicy | None = None,
        momentum: MomentumSchedule | None = None,
        queue_size: int = 0,
        embed_dim: int | None = None,
        dataset_size: int | None = None,
        miner: HardNegativeMiner | None = None,
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = head if head is not None else nn.Identity()
        self.objective = objective
        self.policy = policy if policy is not None else FalseNegativePolicy()
        self.two_view = bool(getattr(objective, "two_view", False))
        self.uses_labels = bool(getattr(objective, "uses_labels", False))
        self.momentum = MomentumEncoder(nn.ModuleList([encoder, self.head]), momentum) if momentum else None
        self.queue = None
        if queue_size:
            if self.two_view:
                raise ValueError(f"{type(objective).__name__} compares two views only; use info_nce with a queue (MoCo)")
            if dataset_size is not None and queue_size >= dataset_size:
                raise ValueError(
                    f"queue_size={queue_size} >= dataset size {dataset_size}: the queue would hold keys of the "
                    f"anchors' own samples (masked as false negatives, leaving few real negatives); use a queue "
                    f"well below the dataset size"
                )
            dim = embed_dim or getattr(encoder, "embed_dim", None)
            if dim is None:
                raise ValueError("a queue needs embed_dim (the head's output size)")
            self.queue = KeyQueue(queue_size, dim, meta_keys=tuple(self.policy_meta_keys()))
        if miner is not None and self.two_view:
            raise ValueError(f"{type(objective).__name__} compares two views only; mined negatives need info_nce-style objectives")
        self.miner = miner
        self.last_stats: dict[str, float] = {}

    def policy_meta_keys(self) -> list[str]:
        keys = ["instance_id"]
        if self.policy.same_group:
            keys.append("group_id")
        if self.policy.same_label:
            keys.append("label")
        if self.policy.temporal_window is not None:
            keys.append("timestamp")
        return keys

    def embed(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.head(self.encoder(inputs))

    def _keys(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        encoder, head = self.momentum.target
        with torch.no_grad():
            return head(encoder(inputs))

    def _mine(self, batch: dict[str, Any]) -> tuple[dict[str, Any], dict[str, float]]:
        device = next(self.parameters()).device
        stats: dict[str, float] = {}
        if self.miner.stale:
            was_training = self.training
            self.eval()  # no dropout / batch statistics in the index embeddings
            try:
                refresh = self.miner.refresh(self.embed, device)
            finally:
                self.train(was_training)
            stats = {f"miner_{k}": float(v) for k, v in refresh.items() if isinstance(v, (int, float)) and k not in ("step", "refresh")}
        batch = self.miner.augment(batch, device)
        stats.update(self.miner.last_stats)
        return batch, stats

    def forward(self, batch: dict[str, Any]) -> torch.Tensor:
        mining_stats: dict[str, float] = {}
        if self.miner is not None:
            batch, mining_stats = self._mine(batch)
        n = int(batch["num_anchors"])
        h = int(batch.get("num_hard_negatives", 0))
        inputs = batch["inputs"]
        if self.momentum is None:
            z = self.embed(inputs)  # (2N + H, D)
            if z.shape[0] != 2 * n + h:
                raise ValueError(f"encoder returned {z.shape[0]} rows for a batch of 2*{n}+{h}")
            anchors, candidates = z[:n], z[n:]
        else:
            anchors = self.embed(slice_rows(inputs, 0, n))
            candidates = self._keys(slice_rows(inputs, n, 2 * n + h))
        anchor_meta = {k: v.to(anchors.device) for k, v in batch["anchor_meta"].items()}
        candidate_meta = anchor_meta
        if h:
            if self.two_view:
                raise ValueError(f"{type(self.objective).__name__} compares two views; explicit hard negatives need info_nce-style objectives")
            hard_meta = batch["hard_negative_meta"]
            candidate_meta = {k: torch.cat([anchor_meta[k], hard_meta[k].to(anchors.device)]) for k in anchor_meta if k in hard_meta}
        keys_now = candidates[:n].detach()  # this batch's keys, queued after the loss
        if self.queue is not None and len(self.queue):
            queued, queued_meta = self.queue.contents()
            candidates = torch.cat([candidates, queued.to(candidates.dtype)])
            candidate_meta = {k: torch.cat([candidate_meta[k], queued_meta[k]]) for k in queued_meta if k in candidate_meta}
        m = candidates.shape[0]
        pos_mask = torch.zeros(n, m, dtype=torch.bool, device=anchors.device)
        pos_mask[:, :n] = torch.eye(n, dtype=torch.bool, device=anchors.device)
        neg_mask, dropped = self.policy.negative_mask(anchor_meta, candidate_meta, pos_mask)
        self.last_stats = {f"masked_{k}": float(v) for k, v in dropped.items() if k != "same_instance" or self.queue is not None}
        self.last_stats["negatives_per_anchor"] = float(neg_mask.sum()) / n
        self.last_stats.update(mining_stats)
        if self.two_view:
            kwargs = {"labels": anchor_meta["label"]} if self.uses_labels and "label" in anchor_meta else {}
            square_pos = pos_mask[:, :n] if not kwargs else None
            loss = self.objective(anchors, candidates, pos_mask=square_pos, neg_mask=neg_mask[:, :n], **kwargs)
        else:
            loss = self.objective(anchors, candidates, pos_mask=pos_mask, neg_mask=neg_mask)
        if self.queue is not None:
            self.queue.enqueue(keys_now, {k: anchor_meta[k] for k in self.queue.meta_keys})
        return loss

    def step_end(self, step: int) -> None:
        """Called by the trainer after each optimizer step: EMA update of the key encoder."""
        if self.momentum is not None:
            self.momentum.update(nn.ModuleList([self.encoder, self.head]), step)
        if self.miner is not None:
            self.miner.step_end(step)
