"""False-negative policy: which candidates may serve as negatives for which anchor.

Masks are the one currency between metadata, miners and objectives (DESIGN.md §3). Every
negative source (in-batch, queue, gathered, ANN-mined) carries per-candidate metadata and goes
through the same :class:`FalseNegativePolicy`.

Metadata is a dict of tensors, one value per row. Candidate metadata is either shared by all
anchors, ``(M,)``, or given per anchor, ``(N, M)`` (a miner's top-M list for each anchor); masks
come out ``(N, M)`` either way:
    ``instance_id``  the sample a view came from (two views of one sample are never negatives)
    ``group_id``     a coarser identity: duplicate texts, one video/stream, one speaker...
    ``label``        a class label (used only when ``same_label`` is on: supervised masking)
    ``timestamp``    position in its stream (with ``group_id`` = stream id) for exclusion windows
    ``seen_items``   anchors only, (N, L) int64: item ids the anchor (a user) already interacted
                     with, padded with -1; with ``exclude_seen`` a candidate whose ``item_id`` is
                     among them is never its negative (recommendation)
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

Meta = dict[str, torch.Tensor]


@dataclass(frozen=True)
class FalseNegativePolicy:
    """Rules that remove a candidate from an anchor's negatives.

    Args:
        same_instance: drop candidates from the anchor's own sample (always sensible).
        same_group: drop candidates sharing ``group_id`` (duplicates, same stream...). When
            ``temporal_window`` is set, same-group candidates are dropped only inside the window
            so far-apart clips of the same stream stay as (hard) negatives.
        same_label: drop candidates with the anchor's ``label`` (supervised masking).
        temporal_window: half-width W of the exclusion window, in the units of ``timestamp``.
        max_positive_ratio: NV-Retriever "TopK-PercPos": drop candidates whose similarity to
            the anchor exceeds ``ratio * sim(anchor, positive)``.
        positive_margin: NV-Retriever "TopK-MarginPos": drop candidates with similarity above
            ``sim(anchor, positive) - margin``.
        exclude_seen: drop candidates whose ``item_id`` is in the anchor's ``seen_items`` (a
            user's own items are never its negatives).
    """

    same_instance: bool = True
    same_group: bool = True
    same_label: bool = False
    temporal_window: float | None = None
    max_positive_ratio: float | None = None
    positive_margin: float | None = None
    exclude_seen: bool = False

    def meta_keys(self) -> list[str]:
        """The candidate metadata this policy's rules read (what a queue must store with its keys)."""
        keys = ["instance_id"]
        if self.same_group:
            keys.append("group_id")
        if self.same_label:
            keys.append("label")
        if self.temporal_window is not None:
            keys.append("timestamp")
        if self.exclude_seen:
            keys.append("item_id")
        return keys

    def false_negative_masks(
        self,
        anchor_meta: Meta,
        candidate_meta: Meta,
        similarities: torch.Tensor | None = None,
        positive_similarities: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """One bool (N, M) mask per active rule: True where the rule calls it a false negative."""
        masks: dict[str, torch.Tensor] = {}
        if self.same_instance:
            masks["same_instance"] = _equal(anchor_meta, candidate_meta, "instance_id")
        if self.same_group and "group_id" in anchor_meta and "group_id" in candidate_meta:
            same = _equal(anchor_meta, candidate_meta, "group_id")
            if self.temporal_window is not None:
                same = same & self._within_window(anchor_meta, candidate_meta)
            masks["same_group"] = same
        if self.same_label:
            if "label" not in anchor_meta or "label" not in candidate_meta:
                raise ValueError("same_label masking needs a 'label' entry in the metadata of anchors and candidates")
            masks["same_label"] = _equal(anchor_meta, candidate_meta, "label")
        if self.exclude_seen:
            masks["seen_item"] = _in_seen(anchor_meta, candidate_meta)
        if self.max_positive_ratio is not None or self.positive_margin is not None:
            if similarities is None or positive_similarities is None:
                raise ValueError("positive-aware thresholds need similarities and positive_similarities")
            pos = positive_similarities.reshape(-1, 1)  # (N, 1)
            if self.max_positive_ratio is not None:
                masks["above_positive_ratio"] = similarities > self.max_positive_ratio * pos
            if self.positive_margin is not None:
                masks["above_positive_margin"] = similarities > pos - self.positive_margin
        return masks

    def negative_mask(
        self,
        anchor_meta: Meta,
        candidate_meta: Meta,
        pos_mask: torch.Tensor,
        similarities: torch.Tensor | None = None,
        positive_similarities: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Return ``(neg_mask, dropped)``: bool (N, M) usable negatives and, per rule, how many
        (anchor, candidate) pairs it removed (a pair removed by two rules counts for both), as 0-d
        tensors on the masks' device (no host synchronisation in a training step)."""
        neg_mask = ~pos_mask
        dropped: dict[str, int] = {}
        for rule, mask in self.false_negative_masks(anchor_meta, candidate_meta, similarities, positive_similarities).items():
            hit = mask & ~pos_mask
            dropped[rule] = hit.sum()
            neg_mask = neg_mask & ~hit
        return neg_mask, dropped

    def _within_window(self, anchor_meta: Meta, candidate_meta: Meta) -> torch.Tensor:
        if "timestamp" not in anchor_meta or "timestamp" not in candidate_meta:
            raise ValueError("temporal_window needs a 'timestamp' entry in the metadata of anchors and candidates")
        a = anchor_meta["timestamp"].reshape(-1, 1).double()
        c = _as_columns(candidate_meta["timestamp"].to(a.device)).double()
        return (a - c).abs() <= self.temporal_window


def _equal(anchor_meta: Meta, candidate_meta: Meta, key: str) -> torch.Tensor:
    if key not in anchor_meta or key not in candidate_meta:
        raise ValueError(f"metadata key {key!r} is missing; anchors have {sorted(anchor_meta)}, candidates {sorted(candidate_meta)}")
    a = anchor_meta[key].reshape(-1, 1)
    c = _as_columns(candidate_meta[key].to(a.device))
    return a == c  # (N, M)


def _in_seen(anchor_meta: Meta, candidate_meta: Meta) -> torch.Tensor:
    if "seen_items" not in anchor_meta or "item_id" not in candidate_meta:
        raise ValueError(f"exclude_seen needs 'seen_items' (N, L) in the anchors' metadata and 'item_id' in the candidates'; "
                         f"anchors have {sorted(anchor_meta)}, candidates {sorted(candidate_meta)}")
    seen = anchor_meta["seen_items"].reshape(anchor_meta["seen_items"].shape[0], -1)  # (N, L), -1 padded
    items = _as_columns(candidate_meta["item_id"].to(seen.device)).expand(seen.shape[0], -1).long()  # (N, M)
    if seen.shape[1] == 0 or items.numel() == 0:
        return torch.zeros(items.shape, dtype=torch.bool, device=seen.device)
    size = int(max(int(seen.max()), int(items.max()))) + 2  # ids are >= 0; the last column takes -1 pads and unknown ids
    if seen.shape[0] * size <= 50_000_000:  # compact ids: a dense (N, ids) membership table, then a gather
        table = torch.zeros(seen.shape[0], size, dtype=torch.bool, device=seen.device)
        table.scatter_(1, torch.where(seen >= 0, seen.long(), size - 1), True)
        table[:, -1] = False
        return table.gather(1, torch.where(items >= 0, items, size - 1))
    seen = seen.long().sort(dim=1).values
    at = torch.searchsorted(seen, items.contiguous()).clamp(max=seen.shape[1] - 1)
    return seen.gather(1, at) == items  # (N, M)


def _as_columns(candidate: torch.Tensor) -> torch.Tensor:
    """(M,) shared candidates -> (1, M); (N, M) per-anchor candidates stay as they are."""
    return candidate if candidate.ndim == 2 else candidate.reshape(1, -1)


def masks_from_labels(anchor_labels: torch.Tensor, candidate_labels: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Class labels -> ``(pos_mask, neg_mask)`` (N, M): same label positive, other labels negative.

    With ``candidate_labels=None`` anchors are compared with themselves and the diagonal
    (an embedding with itself) is in neither mask.
    """
    same_set = candidate_labels is None
    candidate_labels = anchor_labels if same_set else candidate_labels
    same = anchor_labels.reshape(-1, 1) == candidate_labels.reshape(1, -1).to(anchor_labels.device)
    pos, neg = same.clone(), ~same
    if same_set:
        pos.fill_diagonal_(False)
    return pos, neg
