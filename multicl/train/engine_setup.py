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


def build_accelerator(config: TrainerConfig):
    from accelerate import Accelerator, DistributedDataParallelKwargs
    from accelerate.state import AcceleratorState, GradientState

    on_cuda = config.device != "cpu" and torch.cuda.is_available()
    if config.device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device={config.device!r} was asked for but CUDA is not available; use --device cpu")
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
    return Accelerator(
        cpu=not on_cuda,
        mixed_precision=resolve_precision(config.precision, on_cuda),
        gradient_accumulation_steps=config.grad_accum_steps,
        step_scheduler_with_optimizer=False,
        kwargs_handlers=[ddp_kwargs],
    )


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
