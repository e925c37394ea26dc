"""Shared checks for objectives: shapes and masks (DESIGN.md §3)."""
from __future__ import annotations

import contextlib
import contextvars
from typing import Iterator

import torch
import torch.nn.functional as F


_MASKS_TRUSTED = contextvars.ContextVar("multicl_masks_trusted", default=False)


@contextlib.contextmanager
def trusted_masks() -> Iterator[None]:
    """Inside this block, objectives skip the mask checks that read mask *values* (every anchor
    has a positive; no pair both positive and negative): each is a host synchronisation, and a
    learner's pool builds masks that hold by construction. Shapes and dtypes are still checked.
    A user calling an objective directly keeps every check."""
    token = _MASKS_TRUSTED.set(True)
    try:
        yield
    finally:
        _MASKS_TRUSTED.reset(token)


def check_contrastive_inputs(
    anchors: torch.Tensor,
    candidates: torch.Tensor,
    pos_mask: torch.Tensor | None,
    neg_mask: torch.Tensor | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate inputs and return explicit boolean ``(pos_mask, neg_mask)`` of shape (N, M).

    ``pos_mask=None`` means row i's positive is column i (needs M >= N); ``neg_mask=None``
    means every candidate that is not a positive is a negative. A column that is in neither
    mask is ignored for that row (e.g. a masked false negative).
    """
    if anchors.dim() != 2 or candidates.dim() != 2:
        raise ValueError(
            f"anchors and candidates must be 2-D (N, D) and (M, D); got {tuple(anchors.shape)} "
            f"and {tuple(candidates.shape)}"
        )
    n, d = anchors.shape
    m, d2 = candidates.shape
    if d != d2:
        raise ValueError(f"embedding sizes differ: anchors have D={d}, candidates D={d2}")
    if n == 0:
        raise ValueError("no anchors: the batch is empty")
    device = anchors.device
    if pos_mask is None:
        if m < n:
            raise ValueError(
                f"pos_mask=None pairs anchor i with candidate i, so it needs M >= N; got N={n}, M={m}"
            )
        pos_mask = torch.zeros(n, m, dtype=torch.bool, device=device)
        pos_mask[:, :n] = torch.eye(n, dtype=torch.bool, device=device)
    if pos_mask.shape != (n, m) or pos_mask.dtype != torch.bool:
        raise ValueError(f"pos_mask must be a bool tensor of shape {(n, m)}, got {pos_mask.dtype} {tuple(pos_mask.shape)}")
    trusted = _MASKS_TRUSTED.get()
    if not trusted and not bool(pos_mask.any(dim=1).all()):
        rows = (~pos_mask.any(dim=1)).nonzero().flatten().tolist()[:5]
        raise ValueError(f"every anchor needs at least one positive; rows without one: {rows}")
    if neg_mask is None:
        neg_mask = ~pos_mask
    if neg_mask.shape != (n, m) or neg_mask.dtype != torch.bool:
        raise ValueError(f"neg_mask must be a bool tensor of shape {(n, m)}, got {neg_mask.dtype} {tuple(neg_mask.shape)}")
    if not trusted and bool((neg_mask & pos_mask).any()):
        raise ValueError("a candidate cannot be both a positive and a negative of the same anchor")
    return pos_mask.to(device), neg_mask.to(device)


def pairwise_similarity(a: torch.Tensor, b: torch.Tensor, similarity: str) -> torch.Tensor:
    """(N, D) x (M, D) -> (N, M) in float32 (logits in low precision lose the ranking).

    Autocast is switched off here: under bf16 autocast even a float32 matmul would run in bf16.
    """
    if similarity not in ("cosine", "dot"):
        raise ValueError(f"similarity must be 'cosine' or 'dot', got {similarity!r}")
    with torch.autocast(a.device.type, enabled=False):
        a = a.float()
        b = b.float()
        if similarity == "cosine":
            a = F.normalize(a, dim=-1)
            b = F.normalize(b, dim=-1)
        return a @ b.T  # (N, M)


def masked_logsumexp(logits: torch.Tensor, mask: torch.Tensor, dim: int = 1) -> torch.Tensor:
    """logsumexp over entries where ``mask`` is True; ``-inf``-free (empty rows give a very
    negative finite value, so ``softplus(lse - x)`` is 0 there)."""
    very_negative = torch.finfo(logits.dtype).min
    return logits.masked_fill(~mask, very_negative).logsumexp(dim=dim, keepdim=True)


def two_view_masks(
    n: int,
    pos_mask: torch.Tensor | None,
    neg_mask: torch.Tensor | None,
    device: torch.device,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Lift instance-level (N, N) masks between view a and view b to the (2N, 2N) matrix of
    both views against both views (SimCLR layout), excluding each row's own column."""
    if pos_mask is None:
        pos_mask = torch.eye(n, dtype=torch.bool, device=device)
    if pos_mask.shape != (n, n):
        raise ValueError(f"two-view objectives take (N, N) masks between the views; got {tuple(pos_mask.shape)} for N={n}")
    if neg_mask is None:
        neg_mask = ~pos_mask
    if neg_mask.shape != (n, n):
        raise ValueError(f"neg_mask must be (N, N)={n, n}, got {tuple(neg_mask.shape)}")
    pos = pos_mask.repeat(2, 2)
    neg = neg_mask.repeat(2, 2)
    self_mask = torch.eye(2 * n, dtype=torch.bool, device=device)
    pos = pos & ~self_mask
    neg = neg & ~self_mask & ~pos
    if not _MASKS_TRUSTED.get() and not bool(pos.any(dim=1).all()):
        raise ValueError("every sample needs a positive: pos_mask must relate each view-a row to some view-b row")
    return pos, neg


def refuse_masks(name: str, pos_mask: torch.Tensor | None, neg_mask: torch.Tensor | None) -> None:
    if pos_mask is not None or neg_mask is not None:
        raise ValueError(
            f"{name} is non-contrastive: it takes two paired views (N, D) and (N, D) and no negatives, "
            f"so pos_mask/neg_mask have no meaning here; drop them or use a contrastive objective"
        )


def check_paired_views(name: str, view_a: torch.Tensor, view_b: torch.Tensor) -> None:
    if view_a.dim() != 2 or view_a.shape != view_b.shape:
        raise ValueError(f"{name} takes two paired views of equal shape (N, D); got {tuple(view_a.shape)} and {tuple(view_b.shape)}")
    if view_a.shape[0] < 2:
        raise ValueError(f"{name} needs at least 2 samples per batch, got {view_a.shape[0]}")


def mean_over_rows_with_negatives(per_row: torch.Tensor, has_negatives: torch.Tensor) -> torch.Tensor:
    """Mean of ``per_row`` (R,) over the rows that have at least one negative.

    A row without negatives (every candidate masked as a false negative) has nothing to be
    contrasted with: it adds no loss and no gradient and is left out of the mean. When no row
    has a negative the result is 0, still connected to the inputs, so ``backward`` works (all
    gradients 0). ``per_row`` must be finite wherever ``has_negatives`` is True.
    """
    kept = torch.where(has_negatives, per_row, torch.zeros_like(per_row))  # (R,)
    return kept.sum() / has_negatives.sum().clamp(min=1).to(per_row.dtype)


def standardize_columns(x: torch.Tensor, unbiased: bool) -> torch.Tensor:
    """Each embedding dimension to zero mean, unit std over the batch (Barlow Twins: population std;
    CCA-SSG: sample std, as in their papers' code)."""
    return (x - x.mean(0)) / x.std(0, unbiased=unbiased).clamp(min=1e-6)
