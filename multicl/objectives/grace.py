"""GRACE's loss (Zhu et al. 2020): NT-Xent over two graph views, with a row-chunked variant.

Each of the 2N node embeddings (both views) has the same node in the other view as positive and
every other node of *both* views as negatives (inter- and intra-view), positive included in
the denominator: the math is :class:`~multicl.objectives.nt_xent.NTXent`'s. What GRACE adds
for graphs is memory: with ``chunk_size=B`` the (2N, 2N) similarity matrix is never built;
rows are processed B at a time against all 2N columns and each chunk is recomputed in the
backward pass (a custom autograd function with the analytic gradient), so the loss needs
O(B N) memory instead of O(N^2) (time stays O(N^2 D)).
Optional (N, N) ``pos_mask`` / ``neg_mask`` (the false-negative policy: e.g. k-hop neighbours)
apply to all four view blocks, as in NT-Xent.

Reference: Zhu, Xu, Yu, Liu, Wu, Wang. Deep Graph Contrastive Representation Learning
(GRACE). ICML GRL+ workshop 2020. Its ``batched_semi_loss`` is the chunked form.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from multicl.objectives.base import mean_over_rows_with_negatives
from multicl.objectives.temperature import make_temperature


class GRACELoss(nn.Module):
    """Args: ``temperature`` (GRACE uses 0.4-0.9 by dataset; 0.4 on Cora); ``chunk_size``
    (None: all rows at once); ``similarity`` cosine (GRACE) or dot."""

    two_view = True

    def __init__(self, temperature: float = 0.4, chunk_size: int | None = None, similarity: str = "cosine",
                 learnable_temperature: bool = False) -> None:
        super().__init__()
        if chunk_size is not None and chunk_size <= 0:
            raise ValueError(f"chunk_size must be positive or None, got {chunk_size}")
        if similarity not in ("cosine", "dot"):
            raise ValueError(f"similarity must be 'cosine' or 'dot', got {similarity!r}")
        self.temperature = make_temperature(temperature, learnable_temperature)
        self.chunk_size, self.similarity = chunk_size, similarity

    def forward(self, anchors, candidates, pos_mask=None, neg_mask=None) -> torch.Tensor:
        if anchors.shape != candidates.shape:
            raise ValueError(f"GRACE pairs view a with view b node by node: shapes must match, got {tuple(anchors.shape)} and {tuple(candidates.shape)}")
        n, device = anchors.shape[0], anchors.device
        for name, mask in (("pos_mask", pos_mask), ("neg_mask", neg_mask)):
            if mask is not None and mask.shape != (n, n):
                raise ValueError(f"{name} must be (N, N) between the views, got {tuple(mask.shape)} for N={n}")
        eye = torch.eye(n, dtype=torch.bool, device=device)
        pos = eye if pos_mask is None else pos_mask.to(device)
        neg = ~pos if neg_mask is None else neg_mask.to(device) & ~pos
        with torch.autocast(device.type, enabled=False):
            z = torch.cat([anchors, candidates]).float()  # (2N, D)
            if self.similarity == "cosine":
                z = F.normalize(z, dim=-1)
            temperature = self.temperature()
            if self.chunk_size is None and torch.equal(pos, eye) and torch.equal(neg, ~eye):
                return _plain_loss(z, temperature)  # no false negatives removed: no masks over the 2N x 2N matrix
            if self.chunk_size is None:
                per_row, has_neg = _rows_loss(z, torch.arange(2 * n, device=device), pos, neg, temperature)
            else:
                per_row = _ChunkedRows.apply(z, temperature, pos, neg, self.chunk_size)
                has_neg = torch.cat([_row_masks(rows, pos, neg)[1].any(1) for rows in _chunks(2 * n, self.chunk_size, device)])
        return mean_over_rows_with_negatives(per_row, has_neg)


def _plain_loss(z: torch.Tensor, temperature: torch.Tensor) -> torch.Tensor:
    """The unmasked case (positive = the same node in the other view, every other row a negative)."""
    n2 = z.shape[0]
    logits = z @ z.T / temperature  # (2N, 2N)
    own = torch.eye(n2, dtype=torch.bool, device=z.device)
    denominator = logits.masked_fill(own, torch.finfo(logits.dtype).min).logsumexp(dim=1)  # (2N,)
    partner = torch.arange(n2, device=z.device).roll(n2 // 2)  # row i of view a <-> row i of view b
    return (denominator - logits[torch.arange(n2, device=z.device), partner]).mean()


def _chunks(total: int, size: int, device) -> list[torch.Tensor]:
    return [torch.arange(s, min(s + size, total), device=device) for s in range(0, total, size)]


def _row_masks(rows, pos, neg):
    """(R, 2N) positive / negative masks of ``rows`` of the (2N, 2N) layout (own column excluded)."""
    n = pos.shape[0]
    pos_rows = pos[rows % n].repeat(1, 2)  # instance masks lifted to both view blocks
    neg_rows = neg[rows % n].repeat(1, 2)
    own = torch.zeros_like(pos_rows)
    own[torch.arange(len(rows), device=rows.device), rows] = True  # a row is never its own candidate
    return pos_rows & ~own, neg_rows & ~own & ~(pos_rows & ~own)


class _ChunkedRows(torch.autograd.Function):
    """Per-row GRACE losses computed B rows at a time; backward recomputes each chunk's logits
    and applies the analytic gradient (softmax - positive weights), so no (2N, 2N) tensor is
    ever held: O(B N) memory."""

    @staticmethod
    def forward(ctx, z, temperature, pos, neg, chunk_size):
        ctx.save_for_backward(z, temperature, pos, neg)
        ctx.chunk_size = chunk_size
        with torch.no_grad():
            return torch.cat([_rows_loss(z, rows, pos, neg, temperature)[0] for rows in _chunks(z.shape[0], chunk_size, z.device)])

    @staticmethod
    def backward(ctx, grad_rows):
        z, temperature, pos, neg = ctx.saved_tensors
        grad_z = torch.zeros_like(z)
        grad_t = torch.zeros_like(temperature)
        for rows in _chunks(z.shape[0], ctx.chunk_size, z.device):
            pos_rows, neg_rows = _row_masks(rows, pos, neg)
            logits = z[rows] @ z.T / temperature  # (B, 2N), recomputed
            allowed = pos_rows | neg_rows
            softmax = logits.masked_fill(~allowed, torch.finfo(logits.dtype).min).softmax(dim=1) * allowed
            count = pos_rows.sum(1, keepdim=True)
            g = (softmax - pos_rows / count.clamp(min=1)) * (count > 0) * grad_rows[rows][:, None]  # dL/dlogits (B, 2N)
            grad_z[rows] += g @ z / temperature
            grad_z += g.T @ z[rows] / temperature
            grad_t -= (g * logits).sum() / temperature
        return grad_z, grad_t, None, None, None


def _rows_loss(z, rows, pos, neg, temperature):
    """-log softmax at each positive for ``rows`` of the (2N, 2N) layout -> ((R,), (R,) bool)."""
    logits = z[rows] @ z.T / temperature  # (R, 2N)
    pos_rows, neg_rows = _row_masks(rows, pos, neg)
    very_negative = torch.finfo(logits.dtype).min
    denominator = logits.masked_fill(~(pos_rows | neg_rows), very_negative).logsumexp(dim=1, keepdim=True)  # (R, 1)
    per_positive = (denominator - logits).masked_fill(~pos_rows, 0.0)
    return per_positive.sum(1) / pos_rows.sum(1).clamp(min=1), neg_rows.any(dim=1)
