"""Fold candidate blocks into one pool and mask it with the one false-negative policy.

The first block is the in-batch one (column i is anchor i's positive); the others follow in
source order. Every block goes through the same :class:`FalseNegativePolicy` (positive-aware
thresholds included: similarities are measured on the pool), and the result says, per source,
how many candidates it gave and how many (per anchor) each rule removed.

Statistics stay device tensors (0-d): reading one is a host synchronisation, which the trainer
does only at logging intervals. The empty-pool warning is decided then too.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from multicl.negatives.masks import FalseNegativePolicy
from multicl.negatives.sources.base import CandidateBlock
from multicl.types.batch import Meta


@dataclass
class CandidatePool:
    candidates: torch.Tensor  # (M, D)
    pos_mask: torch.Tensor  # (N, M) bool
    neg_mask: torch.Tensor  # (N, M) bool
    stats: dict[str, float | torch.Tensor] = field(default_factory=dict)
    offered: torch.Tensor | int = 0  # (anchor, candidate) pairs that could have been negatives before the policy

    @property
    def empty(self) -> torch.Tensor:
        """0-d bool tensor: every negative was removed although some were offered."""
        return (torch.as_tensor(self.offered, device=self.neg_mask.device) > 0) & ~self.neg_mask.any()


def fold_candidates(anchors: torch.Tensor, anchor_meta: Meta, blocks: list[tuple[str, CandidateBlock]], policy: FalseNegativePolicy,
                    in_batch_negatives: bool = True) -> CandidatePool:
    """``blocks``: ``(source name, block)``, the in-batch block first."""
    n, device = anchors.shape[0], anchors.device
    anchor_meta = {k: v.to(device) for k, v in anchor_meta.items()}
    candidates = torch.cat([b.embeddings.to(anchors.dtype) for _, b in blocks])  # (M, D)
    similarities = positive_similarities = None
    if policy.max_positive_ratio is not None or policy.positive_margin is not None:
        with torch.no_grad():
            similarities = F.normalize(anchors.float(), dim=-1) @ F.normalize(candidates.float(), dim=-1).T  # (N, M)
            positive_similarities = similarities[:, :n].diagonal()
    stats: dict[str, float | torch.Tensor] = {}
    pos_parts, neg_parts, start = [], [], 0
    for name, block in blocks:
        m = len(block)
        pos = torch.zeros(n, m, dtype=torch.bool, device=device)
        if start == 0:
            pos[:, :n] = torch.eye(n, dtype=torch.bool, device=device)
        meta = {k: v.to(device) for k, v in block.meta.items()}
        sims = None if similarities is None else similarities[:, start : start + m]
        neg, dropped = policy.negative_mask(anchor_meta, meta, pos, sims, positive_similarities)
        if start == 0 and not in_batch_negatives:
            neg = torch.zeros_like(neg)
        stats[f"candidates/{name}"] = float(m)
        for rule, count in dropped.items():
            stats[f"masked/{name}/{rule}"] = count / n
        pos_parts.append(pos)
        neg_parts.append(neg)
        start += m
    pos_mask, neg_mask = torch.cat(pos_parts, 1), torch.cat(neg_parts, 1)
    per_row = neg_mask.sum(1)
    stats["negatives_per_anchor"] = per_row.sum() / n
    stats["rows_without_negatives"] = (per_row == 0).sum().float()
    offered = (~pos_mask).sum() if in_batch_negatives else (~pos_mask[:, n:]).sum()
    return CandidatePool(candidates, pos_mask, neg_mask, stats, offered)


class EmptyPoolWarning:
    """Warns once when the policy leaves a batch without negatives, naming the rule that
    removed the most; counts every such batch."""

    def __init__(self) -> None:
        self._empty_batches: torch.Tensor | int = 0  # a device counter: no host synchronisation per batch
        self._last: tuple[torch.Tensor, dict] | None = None  # (empty?, stats) of the last pool: no embeddings kept
        self._warned = False

    def check(self, pool: CandidatePool) -> None:
        """Count this batch if its pool is empty (on the device); the warning waits for :meth:`flush`."""
        self._empty_batches = self._empty_batches + pool.empty.long()
        self._last = (pool.empty, pool.stats)

    @property
    def empty_batches(self) -> int:
        self.flush()
        return int(self._empty_batches)

    def flush(self) -> None:
        """Warn (once) if the last pool checked was empty: called when statistics are read."""
        last, self._last = self._last, None
        if last is None or self._warned or not bool(last[0]):
            return
        self._warned = True
        removed = {k.split("/", 1)[1]: round(float(v), 3) for k, v in last[1].items() if k.startswith("masked/") and float(v)}
        worst = max(removed, key=removed.get) if removed else "none"
        hint = ""
        if worst.endswith("same_group"):
            hint = (" With one stream (or one group) every in-batch candidate shares the anchor's group: set "
                    "FalseNegativePolicy(temporal_window=W) to keep far clips as negatives, or same_group=False.")
        elif worst.endswith("same_label"):
            hint = " With same_label every candidate of the anchor's class is dropped: batches need several classes."
        warnings.warn(
            f"the false-negative policy removed every negative in this batch (most by {worst!r}; per anchor: "
            f"{removed}); the loss has nothing to contrast and is 0.{hint} Counted in train/rows_without_negatives; "
            f"this warning is shown once.",
            RuntimeWarning,
            stacklevel=4,
        )
