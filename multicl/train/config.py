"""Trainer configuration."""
from __future__ import annotations

from dataclasses import dataclass

PRECISIONS = ("auto", "no", "bf16", "fp16")
SCHEDULES = ("linear", "cosine", "constant")


@dataclass(frozen=True)
class TrainerConfig:
    out_dir: str
    max_steps: int = 1000  # optimizer steps
    batch_size: int = 64  # per device and micro-batch
    grad_accum_steps: int = 1  # note: negatives stay per micro-batch
    learning_rate: float = 3e-5
    weight_decay: float = 0.0
    warmup_ratio: float = 0.1  # share of max_steps with linear warm-up
    lr_schedule: str = "linear"  # decay after warm-up: linear | cosine | constant
    max_grad_norm: float | None = 1.0  # None: no clipping
    precision: str = "auto"  # auto (bf16/fp16 on CUDA, fp32 on CPU) | no | bf16 | fp16
    device: str = "auto"  # auto | cpu | cuda
    eval_every: int = 0  # steps between evaluations; 0: only at the end
    eval_at_start: bool = False  # also evaluate the initial model (step 0): best/ is never worse than the start
    # steps between resumable checkpoints; None: auto = max(1, min(500, max_steps // 10));
    # 0: only at the end (and when the collapse monitor stops the run)
    save_every: int | None = None
    keep_checkpoints: int = 1  # resumable checkpoints kept on disk
    log_every: int = 10
    seed: int = 42
    num_workers: int = 0  # DataLoader workers (views + tokenisation)
    find_unused_parameters: bool = False  # DDP: set when some parameters get no gradient in a step
    compile: bool = False  # torch.compile the encoder (in place; state-dict keys unchanged)
    resume: bool = True  # continue from the latest checkpoint in out_dir (same run identity); False: like overwrite
    overwrite: bool = False  # delete out_dir's checkpoints and outputs and start at step 0, whatever they held
    progress_bar: bool = True
    tensorboard: bool = True
    # GradCache (multicl/train/grad_cache.py): embed in mini-batches of this many rows without
    # gradient, then replay each with gradient; peak activation memory is one mini-batch's.
    # None: the plain step. Needs a ContrastiveLearner without BatchNorm in a trained tower.
    grad_cache_chunk: int | None = None
    # under DDP on CUDA, BatchNorm -> torch.nn.SyncBatchNorm (statistics over every rank's rows);
    # refused on CPU (torch's SyncBatchNorm is CUDA-only; see multicl/train/sync_bn.py)
    sync_batchnorm: bool = False

    def __post_init__(self) -> None:
        if self.max_steps <= 0:
            raise ValueError(f"max_steps must be positive, got {self.max_steps}")
        if self.batch_size <= 1:
            raise ValueError(f"batch_size must be at least 2 for in-batch negatives, got {self.batch_size}")
        if self.log_every <= 0:
            raise ValueError(f"log_every must be at least 1 (steps between log lines), got {self.log_every}")
        if self.grad_accum_steps <= 0:
            raise ValueError(f"grad_accum_steps must be positive, got {self.grad_accum_steps}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.lr_schedule not in SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {SCHEDULES}, got {self.lr_schedule!r}")
        if self.device not in ("auto", "cpu", "cuda") and not self.device.startswith("cuda:"):
            raise ValueError(f"device must be auto, cpu or cuda[:N], got {self.device!r}")
        if not 0.0 <= self.warmup_ratio < 1.0:
            raise ValueError(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio}")
        if self.grad_cache_chunk is not None and self.grad_cache_chunk < 1:
            raise ValueError(f"grad_cache_chunk must be >= 1 rows (or None: no GradCache), got {self.grad_cache_chunk}")
        if self.save_every is not None and self.save_every < 0:
            raise ValueError(f"save_every must be >= 0 (0: only at the end) or None (auto), got {self.save_every}")

    @property
    def checkpoint_every(self) -> int:
        """Steps between checkpoints: ``save_every``, or when None max(1, min(500, max_steps // 10)); 0: only at the end."""
        if self.save_every is None:
            return max(1, min(500, self.max_steps // 10))
        return self.save_every
