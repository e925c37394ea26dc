"""How many in-batch negatives are temporal false negatives, before and after an exclusion window.

Two clips of one stream that overlap show the same thing; as negatives they push apart what is
alike. :func:`in_batch_window_stats` draws batches exactly as the trainer does
(:class:`~multicl.data.sampler.ResumableBatchSampler`, same seed, the dataset's own views), builds
the in-batch candidate set (every other anchor's positive view, with the positive's own
metadata: a jittered clip starts elsewhere than its anchor) and counts, through the
shared :class:`~multicl.negatives.masks.FalseNegativePolicy`:

* ``false_negative_share_before``: share of in-batch negatives from the anchor's stream whose clip
  starts within ``overlap`` steps (the clips share steps) when nothing is masked;
* ``false_negative_share_after``: the same share among the negatives the policy keeps;
* ``removed_per_anchor`` / ``removed_true_negatives_per_anchor``: what the window takes away,
  and how much of it was not overlapping at all (the price of a wide window).
"""
from __future__ import annotations

from typing import Any

import torch

from multicl.data.sampler import ResumableBatchSampler
from multicl.negatives.masks import FalseNegativePolicy
from multicl.types.batch import View, meta_tensors


def _view_meta(view: Any, meta: dict[str, Any]) -> dict[str, Any]:
    return {**meta, **view.meta} if isinstance(view, View) else meta


def in_batch_window_stats(dataset: Any, batch_size: int, policy: FalseNegativePolicy, overlap: int,
                          num_batches: int = 50, seed: int = 0) -> dict[str, float]:
    """``dataset``: the training :class:`~multicl.modalities.views_dataset.ViewsDataset` (its items'
    views may carry a ``timestamp`` of their own); metadata needs ``group_id`` (stream) and
    ``timestamp`` (clip start, steps)."""
    n = len(dataset)
    sampler = ResumableBatchSampler(n, min(batch_size, n), seed=seed, num_batches=num_batches)
    totals = {"negatives": 0, "false_before": 0, "kept": 0, "false_after": 0, "removed": 0, "removed_true": 0, "anchors": 0}
    for batch in sampler:
        items = [dataset[int(v)] for v in batch]
        a = meta_tensors([_view_meta(it["view_a"], it["meta"]) for it in items])
        c = meta_tensors([_view_meta(it["view_b"], it["meta"]) for it in items])
        b = len(items)
        pos = torch.eye(b, dtype=torch.bool)
        same_stream = a["group_id"][:, None] == c["group_id"][None, :]
        overlapping = same_stream & ((a["timestamp"][:, None] - c["timestamp"][None, :]).abs() < overlap) & ~pos
        kept, _ = policy.negative_mask(a, c, pos)
        removed = ~pos & ~kept
        totals["negatives"] += b * (b - 1)
        totals["false_before"] += int(overlapping.sum())
        totals["kept"] += int(kept.sum())
        totals["false_after"] += int((overlapping & kept).sum())
        totals["removed"] += int(removed.sum())
        totals["removed_true"] += int((removed & ~overlapping).sum())
        totals["anchors"] += b
    return {
        "negatives_per_anchor_before": totals["negatives"] / totals["anchors"],
        "negatives_per_anchor_after": totals["kept"] / totals["anchors"],
        "false_negative_share_before": 100 * totals["false_before"] / max(1, totals["negatives"]),
        "false_negative_share_after": 100 * totals["false_after"] / max(1, totals["kept"]),
        "removed_per_anchor": totals["removed"] / totals["anchors"],
        "removed_true_negatives_per_anchor": totals["removed_true"] / totals["anchors"],
    }
