"""Shared checks for objectives: shapes and masks (DESIGN.md §3)."""
from __future__ import annotations

import torch
import torch.nn.functional as F


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
    if not bool(pos_mask.any(dim=1).all()):
        rows = (~pos_mask.any(dim=1)).nonzero().flatten().tolist()[:5]
        raise ValueError(f"every anchor needs at least one positive; rows without one: {rows}")
    if neg_mask is None:
        neg_mask = ~pos_mask
    if neg_mask.shape != (n, m) or neg_mask.dtype != torch.bool:
        raise ValueError(f"neg_mask must be a bool tensor of shape {(n, m)}, got {neg_mask.dtype} {tuple(neg_mask.shape)}")
    if bool((neg_mask & pos_mask).any()):
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
