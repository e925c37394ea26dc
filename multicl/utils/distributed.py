"""torch.distributed in one place: rank, world size, gathers that work with one process too.

Everything here is a no-op (or the identity) when torch.distributed is not initialised, so
callers never branch on whether they run under DDP.
"""
from __future__ import annotations

import torch
import torch.distributed as dist


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def is_rank_zero() -> bool:
    return rank() == 0


def all_gather_rows(tensor: torch.Tensor) -> torch.Tensor:
    """Concatenate every rank's rows (dim 0) in rank order, no gradient; ranks may hold
    different row counts. One process: the tensor itself."""
    if not is_distributed():
        return tensor
    counts = all_gather_counts(tensor.shape[0], tensor.device)
    most = max(counts)
    padded = tensor.new_zeros((most, *tensor.shape[1:]))
    padded[: tensor.shape[0]] = tensor
    parts = [torch.empty_like(padded) for _ in counts]
    dist.all_gather(parts, padded.contiguous())
    return torch.cat([p[:c] for p, c in zip(parts, counts)])


def all_gather_with_grad(tensor: torch.Tensor) -> torch.Tensor:
    """Every rank's rows in rank order; the local rows keep their gradient (the autograd
    all_gather). Row counts must match across ranks."""
    if not is_distributed():
        return tensor
    from torch.distributed.nn.functional import all_gather

    return torch.cat(all_gather(tensor.contiguous()))


def all_gather_counts(count: int, device: torch.device) -> list[int]:
    if not is_distributed():
        return [count]
    mine = torch.tensor([count], device=device)
    counts = [torch.zeros_like(mine) for _ in range(world_size())]
    dist.all_gather(counts, mine)
    return [int(c) for c in counts]


def max_over_ranks(value: int, device: torch.device) -> int:
    if not is_distributed():
        return value
    t = torch.tensor([value], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return int(t)


def shard_bounds(total: int) -> tuple[int, int, int]:
    """``(lo, hi, shard)``: this rank's contiguous share of ``total`` rows."""
    shard = -(-total // world_size())
    lo = min(rank() * shard, total)
    return lo, min(lo + shard, total), shard
