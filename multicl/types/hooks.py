"""What the trainer calls around each optimizer step, and the state it checkpoints besides weights.

A learner exposes its hooks through ``training_hooks()`` (see :class:`Learner`); the trainer
never walks modules looking for methods. Three moments:

    set_total_steps(total)   once before training (and again after a resume with a new
                             ``max_steps``): schedules that depend on the run length (EMA
                             momentum, temperature) take it from the trainer, never their own
    before_step(step)        before the first micro-batch of optimizer step ``step + 1``, in
                             eval-safe no-grad context supplied by the hook itself, under the
                             trainer's autocast: a miner refreshes its index here
    after_step(step)         after optimizer step ``step``: EMA updates, schedule ticks

State that is not a module buffer (a miner's candidate lists, a monitor's decision) is saved
through ``state_dict()`` / ``load_state_dict()``: plain Python values, numpy arrays or tensors.
"""
from __future__ import annotations

from typing import Any, Protocol, Sequence, runtime_checkable

import torch


@runtime_checkable
class StepHook(Protocol):
    """Called by the trainer around every optimizer step; every method may do nothing."""

    def set_total_steps(self, total_steps: int) -> None: ...

    def before_step(self, step: int) -> None: ...

    def after_step(self, step: int) -> None: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


class NoOpHook:
    """Defaults for :class:`StepHook`: subclass and override only what you need."""

    def set_total_steps(self, total_steps: int) -> None:
        return None

    def before_step(self, step: int) -> None:
        return None

    def after_step(self, step: int) -> None:
        return None

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        return None


@runtime_checkable
class Learner(Protocol):
    """What the trainer needs of a learner (ContrastiveLearner, SiameseLearner, your own).

    ``forward(batch) -> scalar loss``; ``encoder``: the module kept after training (evaluated,
    exported); ``last_stats``: figures of the last forward for the training log;
    ``training_hooks()``: the hooks above, in call order.
    """

    encoder: torch.nn.Module
    last_stats: dict[str, float]

    def __call__(self, batch: Any) -> torch.Tensor: ...

    def training_hooks(self) -> Sequence[StepHook]: ...
