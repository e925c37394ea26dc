"""What the training loop runs on: accelerate (device, precision, DDP, accumulation) and AdamW."""
from __future__ import annotations

import torch
from torch import nn

from multicl.train.config import TrainerConfig


def resolve_precision(precision: str, on_cuda: bool) -> str:
    """``auto``: bf16 on CUDA when supported, else fp16 on CUDA, fp32 on CPU."""
    if precision != "auto":
        if precision == "fp16" and not on_cuda:
            raise ValueError("fp16 autocast needs CUDA; on CPU use precision='bf16' or 'no'")
        return precision
    if not on_cuda:
        return "no"
    return "bf16" if torch.cuda.is_bf16_supported() else "fp16"


def resolve_device(device: str, cuda_available: bool, device_count: int, world_size: int) -> torch.device:
    """``TrainerConfig.device`` -> the device of this process, before accelerate starts.

    ``auto``: CUDA when available; ``cuda``: the current CUDA device (one process) or
    ``cuda:LOCAL_RANK`` (launched); ``cuda:N``: that GPU in one process, refused when launched
    with several processes (each takes ``cuda:LOCAL_RANK``; pick GPUs with CUDA_VISIBLE_DEVICES).
    """
    if device == "cpu" or (device == "auto" and not cuda_available):
        return torch.device("cpu")
    if not cuda_available:
        raise RuntimeError(f"device={device!r} was asked for but CUDA is not available; use --device cpu")
    if device in ("auto", "cuda"):
        return torch.device("cuda")
    index = int(device.split(":", 1)[1])
    if world_size > 1:
        raise ValueError(f"device={device!r} with {world_size} processes: each process uses cuda:LOCAL_RANK; choose the "
                         f"GPUs with CUDA_VISIBLE_DEVICES (e.g. CUDA_VISIBLE_DEVICES=2,3) and device='cuda'")
    if index >= device_count:
        raise ValueError(f"device={device!r} but only {device_count} CUDA device(s) are visible (cuda:0..cuda:{device_count - 1})")
    return torch.device("cuda", index)


def build_accelerator(config: TrainerConfig):
    import os

    from accelerate import Accelerator, DistributedDataParallelKwargs
    from accelerate.state import AcceleratorState, GradientState

    cuda = torch.cuda.is_available()
    wanted = resolve_device(config.device, cuda, torch.cuda.device_count() if cuda else 0, int(os.environ.get("WORLD_SIZE", "1")))
    on_cuda = wanted.type == "cuda"
    if wanted.index is not None:
        # accelerate's one-process device is the bare "cuda" (the current device): make it cuda:N
        torch.cuda.set_device(wanted)
    # accelerate keeps process-wide singletons; a second Trainer in one process (tests,
    # notebooks, benchmark sweeps) must be able to pick another precision or device.
    AcceleratorState._reset_state(reset_partial_state=False)
    GradientState._reset_state()
    # broadcast_buffers=False: DDP would otherwise copy every buffer from rank 0 at each forward,
    # overwriting each rank's MoCo key queue (a buffer) with rank 0's; the queue keeps ranks in
    # step itself (keys gathered from all ranks, enqueued identically). BatchNorm running
    # statistics then stay per rank (the saved model has rank 0's); synchronising them
    # (SyncBatchNorm) belongs to the scale-out work.
    ddp_kwargs = DistributedDataParallelKwargs(find_unused_parameters=config.find_unused_parameters, broadcast_buffers=False)
    accelerator = Accelerator(
        cpu=not on_cuda,
        mixed_precision=resolve_precision(config.precision, on_cuda),
        gradient_accumulation_steps=config.grad_accum_steps,
        step_scheduler_with_optimizer=False,
        kwargs_handlers=[ddp_kwargs],
    )
    got = accelerator.device
    if wanted.index is not None and (got.type != "cuda" or (got.index if got.index is not None else torch.cuda.current_device()) != wanted.index):
        raise RuntimeError(f"device={config.device!r} was asked for but accelerate placed this process on {got} "
                           f"(an earlier Accelerator in this process fixed it); start a new process")
    return accelerator


def build_optimizer(model: nn.Module, learning_rate: float, weight_decay: float) -> torch.optim.Optimizer:
    """AdamW; no weight decay on biases, norms and temperatures (1-D parameters)."""
    decay, no_decay = [], []
    for _, param in model.named_parameters():
        if not param.requires_grad:
            continue
        (no_decay if param.ndim <= 1 else decay).append(param)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    params = decay + no_decay
    # The fused kernel updates all parameters in one pass (CPU and CUDA); fall back where a
    # device or dtype lacks it.
    fused = bool(params) and all(p.device.type in ("cpu", "cuda") and p.dtype in (torch.float32, torch.float16, torch.bfloat16) for p in params)
    return torch.optim.AdamW([g for g in groups if g["params"]], lr=learning_rate, fused=fused or None)
