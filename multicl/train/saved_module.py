"""A module saved as its weights (safetensors) + its constructor arguments (json), for models that
are not :class:`~multicl.models.embedding_model.EmbeddingModel` folders (the anomaly detectors).

The module exposes its constructor arguments as ``module.config`` (a json-able dict); the json file
holds ``{"model": config, **extra}``.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, TypeVar

from torch import nn

M = TypeVar("M", bound=nn.Module)


def save_module(model: nn.Module, folder: str | Path, config_file: str, weights_file: str, extra: dict[str, Any] | None = None) -> Path:
    """``model``'s weights and ``model.config`` (+ ``extra``) into ``folder`` -> ``folder``."""
    from safetensors.torch import save_file

    from multicl.train.checkpoint import safetensors_state
    from multicl.utils.io import atomic_write_json

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    save_file(safetensors_state(model), str(folder / weights_file))
    atomic_write_json(folder / config_file, {"model": model.config, **(extra or {})})
    return folder


def load_module(build: Callable[..., M], folder: str | Path, config_file: str, weights_file: str, writer: str) -> M:
    """What :func:`save_module` wrote: ``build(**config)`` with every weight loaded (strict), in eval mode.
    ``writer`` names the save function in the error for a folder without ``config_file``."""
    from safetensors.torch import load_file

    folder = Path(folder)
    if not (folder / config_file).exists():
        raise FileNotFoundError(f"{folder}: no {config_file}; expected a folder written by {writer}")
    model = build(**json.loads((folder / config_file).read_text())["model"])
    model.load_state_dict(load_file(str(folder / weights_file)), strict=True)
    return model.eval()
