"""The trainer's hook protocol (defined in :mod:`multicl.types.hooks`, so that negative sources
in the layer below can implement it)."""
from multicl.types.hooks import Learner, NoOpHook, StepHook

__all__ = ["Learner", "NoOpHook", "StepHook"]
