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


def all_reduce_(tensor: torch.Tensor, op: str = "sum") -> torch.Tensor:
    """Sum (``op="sum"``) or maximum (``"max"``) of ``tensor`` over ranks, in place, no
    gradient; returns it. One process: unchanged."""
    if op not in ("sum", "max"):
        raise ValueError(f"op must be 'sum' or 'max', got {op!r}")
    if is_distributed():
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM if op == "sum" else dist.ReduceOp.MAX)
    return tensor


def shard_bounds(total: int) -> tuple[int, int, int]:
    """``(lo, hi, shard)``: this rank's contiguous share of ``total`` rows."""
    shard = -(-total // world_size())
    lo = min(rank() * shard, total)
    return lo, min(lo + shard, total), shard


def average_gradients(parameters, bucket_bytes: int = 64 * 2**20) -> None:
    """Average ``.grad`` over ranks in place, what DDP's reducer does, for steps that bypass it
    (GradCache replays call the unwrapped module). A parameter with a gradient on some rank
    gets zeros where it has none; one without a gradient anywhere keeps ``None``. Gradients
    are all-reduced in flat buckets of about ``bucket_bytes`` per dtype and device."""
    if not is_distributed():
        return
    params = [p for p in parameters if p.requires_grad]
    if not params:
        return
    device = next((p.grad.device for p in params if p.grad is not None), params[0].device)
    has = torch.tensor([p.grad is not None for p in params], dtype=torch.float32, device=device)
    dist.all_reduce(has)  # the same parameters on every rank take part
    live = []
    for p, count in zip(params, has.tolist()):
        if count == 0:
            continue
        if p.grad is None:
            p.grad = torch.zeros_like(p)
        live.append(p)
    world = world_size()
    groups: dict[tuple, list[torch.Tensor]] = {}
    for p in live:
        groups.setdefault((p.grad.dtype, p.grad.device), []).append(p.grad)
    for grads in groups.values():
        bucket, size = [], 0
        for g in grads + [None]:
            if g is not None:
                bucket.append(g)
                size += g.numel() * g.element_size()
            if bucket and (g is None or size >= bucket_bytes):
                flat = torch.cat([b.reshape(-1) for b in bucket])
                dist.all_reduce(flat)
                flat.div_(world)
                offset = 0
                for b in bucket:
                    b.copy_(flat[offset : offset + b.numel()].view_as(b))
                    offset += b.numel()
                bucket, size = [], 0
