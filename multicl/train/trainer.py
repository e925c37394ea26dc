"""The training engine: one loop for every modality and objective, on accelerate.

accelerate does device placement, mixed precision (bf16/fp16 autocast + grad scaling), DDP and
gradient accumulation; this loop adds what contrastive training needs around it: resumable
batches, exact resume, periodic evaluation with best-model selection, logging.
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from multicl.data.sampler import ResumableBatchSampler
from multicl.train.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from multicl.train.config import TrainerConfig
from multicl.train.metrics_log import MetricsLog
from multicl.train.schedule import build_scheduler
from multicl.utils.io import atomic_directory, atomic_write_json
from multicl.utils.seed import capture_rng_state, restore_rng_state, seed_everything

if TYPE_CHECKING:  # only for the annotation: the monitor imports the trainer's neighbours
    from multicl.train.monitor import CollapseMonitor

logger = logging.getLogger(__name__)

Evaluate = Callable[[nn.Module], dict[str, float]]
StepCallback = Callable[[int, dict[str, float]], None]


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
    return Accelerator(
        cpu=not on_cuda,
        mixed_precision=resolve_precision(config.precision, on_cuda),
        gradient_accumulation_steps=config.grad_accum_steps,
        step_scheduler_with_optimizer=False,
        kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=config.find_unused_parameters)],
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


class Trainer:
    """Train ``learner`` (a module whose ``forward(batch)`` returns a scalar loss).

    Args:
        learner: e.g. :class:`~multicl.train.learner.ContrastiveLearner`.
        dataset: map-style dataset of training items (e.g. ``ViewsDataset``).
        collate_fn: items -> batch (the adapter's ``collate``).
        config: :class:`TrainerConfig`.
        evaluate: ``evaluate(encoder) -> {"metric": value}``, run every ``eval_every`` steps
            and at the end, in eval mode and without gradients.
        primary_metric: key of ``evaluate``'s result used to select the best model.
        greater_is_better: direction of ``primary_metric``.
        save_best: ``save_best(learner, folder)`` writes the best model (default: the learner's
            weights as safetensors). Called inside an atomic folder.
        callbacks: ``callback(step, logs)`` after every optimizer step.
        monitor: a :class:`~multicl.train.monitor.CollapseMonitor`; its measurements are logged
            under ``monitor/`` and a detected collapse stops the run (``stopped_early`` in the
            summary) when the monitor says so.

    Outputs in ``config.out_dir``: ``metrics.jsonl``, ``tensorboard/``, ``checkpoints/``,
    ``best/`` (when evaluating) and ``trainer_summary.json``.
    """

    def __init__(
        self,
        learner: nn.Module,
        dataset: Dataset,
        collate_fn: Callable[[Sequence[Any]], Any],
        config: TrainerConfig,
        evaluate: Evaluate | None = None,
        primary_metric: str | None = None,
        greater_is_better: bool = True,
        save_best: Callable[[nn.Module, Path], None] | None = None,
        callbacks: Sequence[StepCallback] = (),
        monitor: "CollapseMonitor | None" = None,
    ) -> None:
        if evaluate is not None and primary_metric is None:
            raise ValueError("an evaluate function needs primary_metric (the key used to pick the best model)")
        self.learner = learner
        self.dataset = dataset
        self.collate_fn = collate_fn
        self.config = config
        self.evaluate_fn = evaluate
        self.primary_metric = primary_metric
        self.greater_is_better = greater_is_better
        self.save_best = save_best or _save_weights
        self.callbacks = list(callbacks)
        self.monitor = monitor
        self.out_dir = Path(config.out_dir)
        self.checkpoint_dir = self.out_dir / "checkpoints"
        self.accelerator = build_accelerator(config)

    @property
    def device(self) -> torch.device:
        return self.accelerator.device

    def train(self) -> dict[str, Any]:
        cfg = self.config
        acc = self.accelerator
        seed_everything(cfg.seed)
        optimizer = build_optimizer(self.learner, cfg.learning_rate, cfg.weight_decay)
        scheduler = build_scheduler(optimizer, cfg.max_steps, cfg.warmup_ratio, cfg.lr_schedule)

        step, best, best_step, rng_state = 0, None, None, None
        resume_from = latest_checkpoint(self.checkpoint_dir) if cfg.resume else None
        if resume_from is not None:
            _check_resumable(resume_from, state_config=_read_state_config(resume_from), config=cfg)
            state, rng_state = load_checkpoint(resume_from, self.learner, optimizer, scheduler)
            step, best, best_step = int(state["step"]), state.get("best_metric"), state.get("best_step")
            if acc.is_main_process:
                logger.warning("resuming from %s (step %d of %d)", resume_from, step, cfg.max_steps)
            if step > cfg.max_steps:
                raise ValueError(f"checkpoint {resume_from} is at step {step}, beyond max_steps={cfg.max_steps}")

        micro_per_step = cfg.grad_accum_steps * acc.num_processes
        sampler = ResumableBatchSampler(
            len(self.dataset),
            cfg.batch_size,
            seed=cfg.seed,
            start_batch=step * micro_per_step,
            num_batches=max(0, cfg.max_steps - step) * micro_per_step,
        )
        loader = DataLoader(
            self.dataset,
            batch_sampler=sampler,
            collate_fn=self.collate_fn,
            num_workers=cfg.num_workers,
            # A private generator: creating the iterator must not draw from the global RNG,
            # or dropout after a resume would differ from the uninterrupted run.
            generator=torch.Generator().manual_seed(cfg.seed),
        )
        if cfg.compile:
            encoder = getattr(self.learner, "encoder", self.learner)
            encoder.compile(dynamic=True)
        model, optimizer, loader = acc.prepare(self.learner, optimizer, loader)
        if rng_state is not None:
            restore_rng_state(rng_state)

        log = MetricsLog(self.out_dir, resume_step=step, tensorboard=cfg.tensorboard, enabled=acc.is_main_process)
        if acc.is_main_process:
            atomic_write_json(self.out_dir / "trainer_config.json", asdict(cfg))
        bar = tqdm(total=cfg.max_steps, initial=step, desc="train", disable=not (cfg.progress_bar and acc.is_main_process), dynamic_ncols=True)
        last_eval: dict[str, float] = {}
        start_time, start_step = time.perf_counter(), step
        samples_seen = 0
        side_seconds = 0.0  # evaluation and checkpointing, reported apart from training time
        stopped_early: str | None = None
        if self.evaluate_fn is not None and cfg.eval_at_start and step == 0:
            last_eval = self._evaluate(model)
            log.log(0, {f"eval/{k}": v for k, v in last_eval.items()})
            best, best_step = last_eval[self.primary_metric], 0
            if acc.is_main_process:
                with atomic_directory(self.out_dir / "best") as folder:
                    self.save_best(self.learner, folder)
            last_eval = {}
        batches = iter(loader)
        learner = self.learner  # what acc.unwrap_model(model) returns: the module we were given
        # EMA targets and temperature schedules; collected once, called after every optimizer step
        step_hooks = [m.step_end for m in learner.modules() if hasattr(m, "step_end")]
        temperature = getattr(getattr(learner, "objective", None), "temperature", None)
        model.train()
        try:
            while step < cfg.max_steps:
                loss_sum = 0.0
                for _ in range(cfg.grad_accum_steps):
                    batch = next(batches)
                    with acc.accumulate(model):
                        loss = model(batch)
                        if not torch.isfinite(loss.detach()):
                            raise FloatingPointError(
                                f"loss is {loss.item()} at step {step + 1}; lower the learning rate, raise the "
                                f"temperature or use precision='no'. The last checkpoint in {self.checkpoint_dir} is intact."
                            )
                        acc.backward(loss)
                        if acc.sync_gradients and cfg.max_grad_norm:
                            grad_norm = acc.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
                        optimizer.step()
                        optimizer.zero_grad(set_to_none=True)
                    loss_sum += float(loss.detach())
                    samples_seen += int(batch["num_anchors"]) if isinstance(batch, dict) and "num_anchors" in batch else cfg.batch_size
                scheduler.step()
                step += 1
                for hook in step_hooks:
                    hook(step)
                step_loss = loss_sum / cfg.grad_accum_steps
                if acc.num_processes > 1:
                    # one value on every rank: the collapse rule must decide the same everywhere
                    step_loss = float(acc.reduce(torch.tensor(step_loss, device=acc.device), reduction="mean"))
                logs = {"loss": step_loss, "lr": scheduler.get_last_lr()[0]}
                if cfg.max_grad_norm:
                    logs["grad_norm"] = float(grad_norm)
                if isinstance(temperature, nn.Module):
                    logs["temperature"] = float(temperature().detach())
                logs.update(getattr(learner, "last_stats", {}))
                if step % cfg.log_every == 0 or step == cfg.max_steps:
                    log.log(step, {f"train/{k}": v for k, v in logs.items()})
                bar.update(1)
                bar.set_postfix(loss=f"{logs['loss']:.4g}", lr=f"{logs['lr']:.2e}")

                if self.monitor is not None and (step % self.monitor.every == 0 or step == cfg.max_steps):
                    health = self.monitor.measure(learner, acc.device)
                    log.log(step, {f"monitor/{k}": v for k, v in health.items()})
                    reason = self.monitor.check(step, health, logs["loss"])
                    if reason and self.monitor.stop:
                        stopped_early = reason
                        self._checkpoint(model, optimizer, scheduler, step, best, best_step)
                        break
                if self.evaluate_fn is not None and ((cfg.eval_every and step % cfg.eval_every == 0) or step == cfg.max_steps):
                    eval_start = time.perf_counter()
                    last_eval = self._evaluate(model)
                    log.log(step, {f"eval/{k}": v for k, v in last_eval.items()})
                    value = last_eval[self.primary_metric]
                    if best is None or (value > best if self.greater_is_better else value < best):
                        best, best_step = value, step
                        if acc.is_main_process:
                            with atomic_directory(self.out_dir / "best") as folder:
                                self.save_best(learner, folder)
                    side_seconds += time.perf_counter() - eval_start
                if (cfg.save_every and step % cfg.save_every == 0) or step == cfg.max_steps:
                    save_start = time.perf_counter()
                    self._checkpoint(model, optimizer, scheduler, step, best, best_step)
                    side_seconds += time.perf_counter() - save_start
                for callback in self.callbacks:
                    callback(step, logs)
        finally:
            bar.close()
            log.close()
        elapsed = time.perf_counter() - start_time - side_seconds
        summary = {
            "steps": step,
            "resumed_from_step": start_step,
            "train_seconds": elapsed,
            "eval_and_checkpoint_seconds": side_seconds,
            "samples_per_second": samples_seen / elapsed if elapsed > 0 else math.nan,
            "best_step": best_step,
            "stopped_early": stopped_early,
            f"best_{self.primary_metric}" if self.primary_metric else "best_metric": best,
            **{f"final_{k}": v for k, v in last_eval.items()},
        }
        if acc.is_main_process:
            atomic_write_json(self.out_dir / "trainer_summary.json", summary)
        return summary

    @torch.no_grad()
    def _evaluate(self, model: nn.Module) -> dict[str, float]:
        unwrapped = self.accelerator.unwrap_model(model)
        encoder = getattr(unwrapped, "encoder", unwrapped)
        was_training = encoder.training
        encoder.eval()
        try:
            with self.accelerator.autocast():
                metrics = self.evaluate_fn(encoder)
        finally:
            encoder.train(was_training)
        if self.primary_metric not in metrics:
            raise KeyError(f"primary_metric {self.primary_metric!r} not in evaluation results {sorted(metrics)}")
        return metrics

    def _checkpoint(self, model, optimizer, scheduler, step, best, best_step) -> None:
        self.accelerator.wait_for_everyone()
        if self.accelerator.is_main_process:
            save_checkpoint(
                self.checkpoint_dir,
                step,
                self.accelerator.unwrap_model(model),
                optimizer.optimizer if hasattr(optimizer, "optimizer") else optimizer,
                scheduler,
                capture_rng_state(),
                {"best_metric": best, "best_step": best_step, "config": asdict(self.config)},
                keep=self.config.keep_checkpoints,
            )


def _save_weights(learner: nn.Module, folder: Path) -> None:
    from safetensors.torch import save_file

    from multicl.train.checkpoint import safetensors_state

    save_file(safetensors_state(learner), str(folder / "model.safetensors"))


# Settings that may change between a run and its resumption; any other difference means the
# checkpoint belongs to another experiment.
_RESUME_FREE = {"max_steps", "resume", "progress_bar", "eval_every", "save_every", "log_every",
                "keep_checkpoints", "num_workers", "tensorboard", "out_dir", "eval_at_start", "compile", "find_unused_parameters"}


def _read_state_config(path: Path) -> dict[str, Any]:
    import json

    return json.loads((path / "trainer_state.json").read_text()).get("config", {})


def _check_resumable(path: Path, state_config: dict[str, Any], config: TrainerConfig) -> None:
    current = asdict(config)
    changed = sorted(k for k in current if k not in _RESUME_FREE and k in state_config and state_config[k] != current[k])
    if changed:
        details = ", ".join(f"{k}: {state_config[k]!r} -> {current[k]!r}" for k in changed)
        raise ValueError(
            f"{path} was written by a run with other settings ({details}); use another out_dir, "
            f"or resume=False (--no-resume) to start over"
        )
