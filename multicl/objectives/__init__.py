"""Objective registry: ``OBJECTIVES`` maps a name to a class; ``build_objective`` builds one."""
from __future__ import annotations

from typing import Any

from torch import nn

from multicl.objectives.info_nce import InfoNCE
from multicl.objectives.temperature import Temperature

OBJECTIVES: dict[str, type[nn.Module]] = {
    "info_nce": InfoNCE,
}


def build_objective(name: str, **kwargs: Any) -> nn.Module:
    """Build the objective registered as ``name`` with its constructor's keyword arguments.

    Unknown names and unknown arguments fail with the list of what exists.
    """
    if name not in OBJECTIVES:
        raise KeyError(f"unknown objective {name!r}; available: {sorted(OBJECTIVES)}")
    cls = OBJECTIVES[name]
    try:
        return cls(**kwargs)
    except TypeError as err:
        raise TypeError(f"cannot build objective {name!r} with {sorted(kwargs)}: {err}") from err


__all__ = ["OBJECTIVES", "build_objective", "InfoNCE", "Temperature"]
