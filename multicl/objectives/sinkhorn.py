"""Sinkhorn-Knopp: soft, equipartitioned assignment of samples to prototypes (SwAV's codes)."""
from __future__ import annotations

import math

import torch

from multicl.utils.distributed import all_reduce_, world_size


@torch.no_grad()
def sinkhorn_knopp(scores: torch.Tensor, epsilon: float = 0.05, iterations: int = 3) -> torch.Tensor:
    """Codes ``Q`` (B, K) for prototype scores (B, K): each row sums to 1, and over the whole
    batch *of every rank* each prototype receives about B_total / K of the mass.

    ``Q = diag(u) exp(scores / epsilon) diag(v)`` by alternating normalisation of prototype
    sums (to 1/K) and sample sums (to 1/B_total), the paper's iteration. Prototype sums are
    all-reduced, so N ranks of B rows give exactly the codes one process gives for the N*B
    rows. Run in the log domain in float32: logits far apart (small ``epsilon``, unnormalised
    scores) would underflow ``exp`` to a prototype of zeros. No gradient (codes are targets).
    Reference: Caron et al. 2020 (SwAV), Cuturi 2013.
    """
    if scores.dim() != 2:
        raise ValueError(f"scores must be (batch, prototypes), got shape {tuple(scores.shape)}")
    if epsilon <= 0 or iterations < 1:
        raise ValueError(f"need epsilon > 0 and iterations >= 1, got {epsilon}, {iterations}")
    with torch.autocast(scores.device.type, enabled=False):
        log_q = scores.float() / epsilon  # (B, K)
        samples = log_q.shape[0] * world_size()  # equal batch per rank, as DDP's sampler gives
        log_k, log_b = math.log(log_q.shape[1]), math.log(samples)
        for _ in range(iterations):
            log_q = log_q - _logsumexp_over_ranks(log_q) - log_k      # each prototype: mass 1 / K
            log_q = log_q - log_q.logsumexp(dim=1, keepdim=True) - log_b  # each sample: mass 1 / B
        return torch.exp(log_q + log_b)  # rows sum to 1


def _logsumexp_over_ranks(log_q: torch.Tensor) -> torch.Tensor:
    """``log sum_b exp(log_q[b, k])`` over the rows of every rank: (1, K)."""
    top = all_reduce_(log_q.max(dim=0, keepdim=True).values.clone(), op="max")
    return top + all_reduce_(torch.exp(log_q - top).sum(dim=0, keepdim=True)).log()
