"""The trainer's side of :mod:`multicl.train.hooks`: collect a learner's hooks once, call them
at the three moments, and checkpoint their state.

State: a hook that is an ``nn.Module`` inside the learner (a learnable/scheduled temperature, an
EMA target) already travels in ``model.safetensors``, so only the other hooks' ``state_dict()``
goes into ``hooks.pt`` (saving an EMA copy twice would double the checkpoint).
"""
from __future__ import annotations

from typing import Any

from torch import nn

from multicl.train.hooks import Learner, StepHook


class HookRunner:
    """The hooks of ``learner``, in the order ``training_hooks()`` lists them."""

    def __init__(self, learner: Any) -> None:
        if isinstance(learner, Learner):
            hooks = list(learner.training_hooks())
            for i, hook in enumerate(hooks):
                if not isinstance(hook, StepHook):
                    raise TypeError(
                        f"{type(learner).__name__}.training_hooks()[{i}] is a {type(hook).__name__}, which lacks the StepHook "
                        f"methods (set_total_steps, before_step, after_step, state_dict, load_state_dict); "
                        f"subclass multicl.train.hooks.NoOpHook and override what you need"
                    )
        else:
            hooks = []  # a plain module (forward(batch) -> loss) has nothing to call around a step
        self.hooks: list[StepHook] = hooks
        submodules = {id(m) for m in learner.modules()} if isinstance(learner, nn.Module) else set()
        self._in_weights = [isinstance(h, nn.Module) and id(h) in submodules for h in hooks]

    def set_total_steps(self, total_steps: int) -> None:
        for hook in self.hooks:
            hook.set_total_steps(total_steps)

    def before_step(self, step: int) -> None:
        for hook in self.hooks:
            hook.before_step(step)

    def after_step(self, step: int) -> None:
        for hook in self.hooks:
            hook.after_step(step)

    def state_dict(self) -> list[dict[str, Any]]:
        return [
            {"type": type(h).__name__, "state": None if in_weights else h.state_dict()}
            for h, in_weights in zip(self.hooks, self._in_weights)
        ]

    def load_state_dict(self, states: list[dict[str, Any]]) -> None:
        names = [type(h).__name__ for h in self.hooks]
        saved = [s.get("type") for s in states]
        if saved != names:
            if not any(s.get("state") for s in states):
                return  # nothing was saved to restore (stateless hooks, or the transition path's)
            raise ValueError(
                f"the checkpoint's training hooks {saved} do not match the learner's {names}; "
                f"it was written by another learner set-up: use another out_dir or overwrite=True"
            )
        for hook, entry, in_weights in zip(self.hooks, states, self._in_weights):
            if not in_weights and entry.get("state") is not None:
                hook.load_state_dict(entry["state"])
