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
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from accelerate.optimizer import AcceleratedOptimizer
from tqdm.auto import tqdm

from multicl.data.sampler import ResumableBatchSampler
from multicl.train.checkpoint import latest_checkpoint, load_checkpoint, load_hook_state, read_trainer_state, save_checkpoint
from multicl.train.config import TrainerConfig
from multicl.train.engine_setup import build_accelerator, build_optimizer, resolve_precision  # noqa: F401 (re-exported)
from multicl.train.hook_runner import HookRunner
from multicl.train.metrics_log import MetricsLog
from multicl.train.interrupt import InterruptFlag
from multicl.train.run_identity import RESUME_FREE_FIELDS, check_identity, clear_outputs, load_identity, write_identity
from multicl.train.schedule import build_scheduler
from multicl.utils.distributed import average_gradients
from multicl.utils.io import atomic_write_json, replace_directory
from multicl.types.batch import ContrastiveBatch
from multicl.types.multi_crop import MultiCropBatch
from multicl.utils.seed import capture_rng_state, restore_rng_state, seed_everything

if TYPE_CHECKING:  # only for the annotation: the monitor imports the trainer's neighbours
    from multicl.train.monitor import CollapseMonitor

logger = logging.getLogger(__name__)

Evaluate = Callable[[nn.Module], dict[str, float]]
StepCallback = Callable[[int, dict[str, float]], None]
# What the trainer writes into out_dir, removed by overwrite=True / resume=False
TRAINER_OUTPUTS = ("checkpoints", "best", "metrics.jsonl", "tensorboard", "trainer_summary.json", "trainer_config.json")


class Trainer:
    """Train ``learner`` (a module whose ``forward(batch)`` returns a scalar loss).

    Args:
        learner: e.g. :class:`~multicl.train.learner.ContrastiveLearner`. When it is a
            :class:`~multicl.train.hooks.Learner`, its ``training_hooks()`` are told the run
            length before training and called before / after every optimizer step; their
            state is checkpointed.
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
            summary) when the monitor says so. A stopped run stays stopped: training it again
            returns at once.
        run_identity: the fingerprint of what the trainer cannot see (the recipe's config, its
            data files, the model; :func:`multicl.train.run_identity.config_fingerprint`).
            Stored with the trainer's own settings in ``checkpoints/run_identity.json``; a
            resume with any other value is refused, naming what changed.

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
        run_identity: Mapping[str, Any] | None = None,
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
        self.run_identity = dict(run_identity) if run_identity is not None else None
        self.out_dir = Path(config.out_dir)
        self.checkpoint_dir = self.out_dir / "checkpoints"
        self.accelerator = build_accelerator(config)

    @property
    def device(self) -> torch.device:
        return self.accelerator.device

    def identity(self) -> dict[str, Any]:
        """This run's fingerprint: the trainer settings that decide the result, plus ``run_identity``."""
        identity: dict[str, Any] = {k: v for k, v in asdict(self.config).items() if k not in RESUME_FREE_FIELDS}
        if self.run_identity is not None:
            identity["recipe"] = self.run_identity
        return identity

    def _claim_out_dir(self) -> Path | None:
        """Check the out dir against this run (every rank), then clear it (overwrite) and record
        the fingerprint (rank 0). Returns the checkpoint to resume from, if any."""
        cfg, acc = self.config, self.accelerator
        fresh = cfg.overwrite or not cfg.resume
        identity = self.identity()
        resume_from = None
        if not fresh:
            stored = load_identity(self.checkpoint_dir)
            resume_from = latest_checkpoint(self.checkpoint_dir)
            if stored is not None:
                check_identity(self.checkpoint_dir, identity, stored, what="training run")
            elif resume_from is not None:  # written before fingerprints: compare the saved trainer config
                _check_resumable(resume_from, read_trainer_state(resume_from).get("config", {}), cfg)
        acc.wait_for_everyone()  # every rank has checked before anything is deleted
        if acc.is_main_process:
            if fresh:
                removed = clear_outputs(self.out_dir, TRAINER_OUTPUTS)
                if removed:
                    logger.warning("%s: starting over, removed %s", self.out_dir, ", ".join(removed))
            self.checkpoint_dir.mkdir(parents=True, exist_ok=True)
            write_identity(self.checkpoint_dir, identity)
        acc.wait_for_everyone()
        return resume_from

    def train(self) -> dict[str, Any]:
        cfg = self.config
        acc = self.accelerator
        seed_everything(cfg.seed)
        optimizer = build_optimizer(self.learner, cfg.learning_rate, cfg.weight_decay)
        hooks = HookRunner(self.learner)

        step, best, best_step, rng_state = 0, None, None, None
        consumed_batches = 0  # micro-batches of batch_size drawn from the sampler, all ranks together
        resume_from = self._claim_out_dir()
        if resume_from is not None:
            state, rng_state = load_checkpoint(resume_from, self.learner, optimizer, rank=acc.process_index)
            step, best, best_step = int(state["step"]), state.get("best_metric"), state.get("best_step")
            saved_world = _saved_world_size(resume_from, state)
            consumed_batches = step * cfg.grad_accum_steps * saved_world
            if saved_world != acc.num_processes:
                # Works, re-sharded: the data continues at the first unseen batch, now dealt to
                # this run's ranks; each step's global batch is batch_size x the new world size.
                if acc.process_index >= saved_world:  # no saved stream for this rank: a fresh one of its own
                    rng_state = None
                    seed_everything(cfg.seed + 7919 * acc.process_index + step)
                if acc.is_main_process:
                    logger.warning("%s was written by %d process(es), resuming on %d: data order re-sharded from batch %d "
                                   "(nothing repeated or skipped); the global batch is now %d; not bit-identical to an "
                                   "uninterrupted run", resume_from, saved_world, acc.num_processes, consumed_batches,
                                   cfg.batch_size * acc.num_processes)
            if state.get("stopped_early"):
                if acc.is_main_process:
                    logger.warning("%s was stopped at step %d: %s; not training further (overwrite=True starts over)",
                                   resume_from, step, state["stopped_early"])
                return self._summary(step, step, 0.0, 0.0, 0, best, best_step, state["stopped_early"], {})
            if acc.is_main_process:
                logger.warning("resuming from %s (step %d of %d)", resume_from, step, cfg.max_steps)
            if step > cfg.max_steps:
                raise ValueError(f"checkpoint {resume_from} is at step {step}, beyond max_steps={cfg.max_steps}")
            saved_hooks = load_hook_state(resume_from)
            if "hooks" in saved_hooks:
                hooks.load_state_dict(saved_hooks["hooks"])
            if self.monitor is not None and saved_hooks.get("monitor") is not None:
                self.monitor.load_state_dict(saved_hooks["monitor"])
        # rebuilt for this run's max_steps (a resume may extend the run), at the step reached
        scheduler = build_scheduler(optimizer, cfg.max_steps, cfg.warmup_ratio, cfg.lr_schedule, start_step=step)
        hooks.set_total_steps(cfg.max_steps)

        micro_per_step = cfg.grad_accum_steps * acc.num_processes
        sampler = ResumableBatchSampler(
            len(self.dataset),
            cfg.batch_size,
            seed=cfg.seed,
            start_batch=consumed_batches,
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
        if cfg.sync_batchnorm:
            from multicl.train.sync_bn import apply_sync_batchnorm

            apply_sync_batchnorm(self.learner, acc.device, acc.num_processes)
        cache = None
        if cfg.grad_cache_chunk is not None:
            from multicl.train.grad_cache import GradCache

            cache = GradCache(self.learner, cfg.grad_cache_chunk)
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
        save_every = cfg.checkpoint_every
        if self.evaluate_fn is not None and cfg.eval_at_start and step == 0:
            last_eval = self._evaluate(model)
            log.log(0, {f"eval/{k}": v for k, v in last_eval.items()})
            best, best_step = last_eval[self.primary_metric], 0
            if acc.is_main_process:
                replace_directory(lambda folder: self.save_best(self.learner, folder), self.out_dir / "best")
            last_eval = {}
        batches = iter(loader)
        finite = torch.ones((), dtype=torch.bool, device=acc.device)  # every loss since the last check was finite
        checked_step = step
        learner = self.learner  # what acc.unwrap_model(model) returns: the module we were given
        temperature = getattr(getattr(learner, "objective", None), "temperature", None)
        model.train()
        interrupt = InterruptFlag().__enter__()
        try:
            while step < cfg.max_steps:
                with acc.autocast():
                    hooks.before_step(step)
                # on the device: reading a loss (float, isfinite -> bool) would wait for the GPU every micro-step
                loss_sum = torch.zeros((), device=acc.device)
                for _ in range(cfg.grad_accum_steps):
                    batch = next(batches)
                    with acc.accumulate(model):
                        if cache is None:
                            loss = model(batch)
                        else:  # embeds without gradient, backward of the loss, replays (grad_cache.py)
                            loss = cache.step(batch, backward=acc.backward, autocast=acc.autocast)
                        finite = finite & torch.isfinite(loss.detach())
                        if cache is None:
                            acc.backward(loss)
                        elif acc.sync_gradients and acc.num_processes > 1:
                            # the replays bypassed DDP's reducer: average the gradients as it would
                            average_gradients(model.parameters())
                        if acc.sync_gradients and cfg.max_grad_norm:
                            grad_norm = acc.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
                        optimizer.step()
                        optimizer.zero_grad(set_to_none=True)
                    loss_sum = loss_sum + loss.detach().float()
                    samples_seen += _num_anchors(batch, cfg.batch_size)
                scheduler.step()
                step += 1
                hooks.after_step(step)
                bar.update(1)
                monitor_due = self.monitor is not None and (step % self.monitor.every == 0 or step == cfg.max_steps)
                eval_due = self.evaluate_fn is not None and ((cfg.eval_every and step % cfg.eval_every == 0) or step == cfg.max_steps)
                save_due = bool(save_every and step % save_every == 0) or step == cfg.max_steps
                log_due = step % cfg.log_every == 0 or step == cfg.max_steps
                stop_requested = acc.num_processes == 1 and interrupt.requested  # a host flag: free to read every step
                if not (log_due or monitor_due or eval_due or save_due or self.callbacks or stop_requested):
                    continue  # the only host synchronisation of a step is below, at these intervals (ranks agree on Ctrl-C here too)
                if not bool(finite):  # checked before anything is logged, evaluated or saved
                    raise FloatingPointError(
                        f"the loss became NaN or inf between step {checked_step + 1} and step {step}; lower the learning rate, raise "
                        f"the temperature or use precision='no'. The last checkpoint in {self.checkpoint_dir} is intact."
                    )
                checked_step = step
                step_loss = float(loss_sum) / cfg.grad_accum_steps
                if acc.num_processes > 1:
                    # one value on every rank: the collapse rule must decide the same everywhere
                    step_loss = float(acc.reduce(torch.tensor(step_loss, device=acc.device), reduction="mean"))
                logs = {"loss": step_loss, "lr": scheduler.get_last_lr()[0]}
                if cfg.max_grad_norm:
                    logs["grad_norm"] = float(grad_norm)
                if isinstance(temperature, nn.Module):
                    logs["temperature"] = float(temperature().detach())
                logs.update(host_stats(getattr(learner, "last_stats", {})))
                if log_due:
                    log.log(step, {f"train/{k}": v for k, v in logs.items()})
                    bar.set_postfix(loss=f"{logs['loss']:.4g}", lr=f"{logs['lr']:.2e}")

                if monitor_due:
                    health = self.monitor.measure(learner, acc.device)
                    log.log(step, {f"monitor/{k}": v for k, v in health.items()})
                    reason = self.monitor.check(step, health, logs["loss"])
                    if reason and self.monitor.stop:
                        stopped_early = reason
                        self._checkpoint(model, optimizer, scheduler, step, best, best_step, hooks, stopped_early)
                        break
                if eval_due:
                    eval_start = time.perf_counter()
                    last_eval = self._evaluate(model)
                    log.log(step, {f"eval/{k}": v for k, v in last_eval.items()})
                    value = last_eval[self.primary_metric]
                    if best is None or (value > best if self.greater_is_better else value < best):
                        best, best_step = value, step
                        if acc.is_main_process:
                            replace_directory(lambda folder: self.save_best(learner, folder), self.out_dir / "best")
                    side_seconds += time.perf_counter() - eval_start
                saved = save_due
                if saved:
                    save_start = time.perf_counter()
                    self._checkpoint(model, optimizer, scheduler, step, best, best_step, hooks)
                    side_seconds += time.perf_counter() - save_start
                for callback in self.callbacks:
                    callback(step, logs)
                if self._interrupted(interrupt):
                    if not saved:
                        self._checkpoint(model, optimizer, scheduler, step, best, best_step, hooks)
                    if acc.is_main_process:
                        logger.warning("interrupted at step %d: checkpoint written to %s; run the same command again to resume",
                                       step, self.checkpoint_dir)
                    raise KeyboardInterrupt(f"interrupted at step {step}; checkpoint in {self.checkpoint_dir}")
        finally:
            interrupt.__exit__(None, None, None)
            bar.close()
            log.close()
        elapsed = time.perf_counter() - start_time - side_seconds
        summary = self._summary(step, start_step, elapsed, side_seconds, samples_seen, best, best_step, stopped_early, last_eval)
        if acc.is_main_process:
            atomic_write_json(self.out_dir / "trainer_summary.json", summary)
        return summary

    def _summary(self, step, start_step, elapsed, side_seconds, samples_seen, best, best_step, stopped_early, last_eval) -> dict[str, Any]:
        return {
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

    def _interrupted(self, interrupt: InterruptFlag) -> bool:
        """Ctrl-C on any rank stops every rank at the same step."""
        if self.accelerator.num_processes == 1:
            return interrupt.requested
        flag = torch.tensor(float(interrupt.requested), device=self.accelerator.device)
        return bool(self.accelerator.reduce(flag, reduction="sum") > 0)

    def _checkpoint(self, model, optimizer, scheduler, step, best, best_step, hooks: HookRunner, stopped_early: str | None = None) -> None:
        acc = self.accelerator
        rng_states = [capture_rng_state()]
        if acc.num_processes > 1:
            from accelerate.utils import gather_object

            rng_states = gather_object(rng_states)  # one per rank, in rank order
        acc.wait_for_everyone()
        if acc.is_main_process:
            hook_state: dict[str, Any] = {"hooks": hooks.state_dict()}
            if self.monitor is not None:
                hook_state["monitor"] = self.monitor.state_dict()
            save_checkpoint(
                self.checkpoint_dir,
                step,
                acc.unwrap_model(model),
                optimizer.optimizer if isinstance(optimizer, AcceleratedOptimizer) else optimizer,
                scheduler,
                rng_states,
                {"best_metric": best, "best_step": best_step, "stopped_early": stopped_early, "config": asdict(self.config),
                 "world_size": acc.num_processes},
                keep=self.config.keep_checkpoints,
                hook_state=hook_state,
            )


def _saved_world_size(path: Path, state: dict[str, Any]) -> int:
    """Processes that wrote a checkpoint: recorded since scale-out, else its per-rank RNG files."""
    if "world_size" in state:
        return int(state["world_size"])
    return max(1, len(list(Path(path).glob("rng-rank*.pt"))))


def host_stats(stats: dict[str, Any]) -> dict[str, float]:
    """A learner's ``last_stats`` as floats: learners keep device tensors there (reading one is a
    host synchronisation), and the trainer reads them only at logging intervals."""
    return {k: float(v) for k, v in stats.items()}


def _num_anchors(batch: Any, default: int) -> int:
    """Samples in a batch: a typed batch's anchors, else ``default`` (a custom learner's batch)."""
    return batch.num_anchors if isinstance(batch, (ContrastiveBatch, MultiCropBatch)) else default


def _save_weights(learner: nn.Module, folder: Path) -> None:
    from safetensors.torch import save_file

    from multicl.train.checkpoint import safetensors_state

    save_file(safetensors_state(learner), str(folder / "model.safetensors"))


def _check_resumable(path: Path, state_config: dict[str, Any], config: TrainerConfig) -> None:
    current = asdict(config)
    """Checkpoints from before run fingerprints: compare the trainer config they saved."""
    changed = sorted(k for k in current if k not in RESUME_FREE_FIELDS and k in state_config and state_config[k] != current[k])
    if changed:
        details = ", ".join(f"{k}: {state_config[k]!r} -> {current[k]!r}" for k in changed)
        raise ValueError(
            f"{path} was written by a run with other settings ({details}); use another out_dir (--out-dir), "
            f"or overwrite=True (--overwrite) to start over"
        )
