"""Resumable checkpoints: atomic folders with safetensors weights and weights_only-loadable state.

Layout of ``out_dir/checkpoints/``:
    run_identity.json         the run's fingerprint (see :mod:`multicl.train.run_identity`)
    step-000100/
        model.safetensors     learner state (encoder, head, learnable temperature, EMA target...)
        optimizer.pt          optimizer + scheduler state (``torch.load(weights_only=True)``)
        rng-rank{r}.pt        torch / numpy / python (/ cuda) RNG states of process r
        hooks.pt              state of the learner's training hooks and the collapse monitor
        trainer_state.json    step, best metric, early stop, config
A folder appears under its final name only once complete (temp folder + rename). Older
checkpoints with a single ``rng.pt`` (rank 0) still load.
"""
from __future__ import annotations

import json
import logging
import re
import shutil
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from multicl.utils.io import atomic_directory

logger = logging.getLogger(__name__)
_STEP_DIR = re.compile(r"^step-(\d+)$")
_REQUIRED = ("model.safetensors", "optimizer.pt", "trainer_state.json")
_NDARRAY = "__ndarray__"


def safetensors_state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    # safetensors refuses shared or non-contiguous storage: clone what is shared.
    state = module.state_dict()
    seen: set[int] = set()
    out = {}
    for key, tensor in state.items():
        t = tensor.detach().cpu()
        ptr = t.untyped_storage().data_ptr()
        if ptr in seen or not t.is_contiguous():
            t = t.clone().contiguous()
        seen.add(ptr)
        out[key] = t
    return out


def to_weights_only(value: Any, where: str = "state") -> Any:
    """``value`` in the types ``torch.load(weights_only=True)`` reads: tensors (on CPU), bool,
    int, float, str, None, lists, tuples and str-keyed dicts. numpy arrays become tagged tensors
    (or lists for string arrays) that :func:`from_weights_only` turns back into arrays."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "biuf":
            return {_NDARRAY: torch.from_numpy(np.ascontiguousarray(value).copy()), "dtype": str(value.dtype)}
        if value.dtype.kind == "U":
            return {_NDARRAY: value.tolist(), "dtype": str(value.dtype)}
        raise TypeError(f"{where}: numpy arrays of dtype {value.dtype} cannot be checkpointed; use numbers or strings")
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        items = [to_weights_only(v, f"{where}[{i}]") for i, v in enumerate(value)]
        return items if isinstance(value, list) else tuple(items)
    if isinstance(value, dict):
        for key in value:
            if not isinstance(key, (str, int)):
                raise TypeError(f"{where}: dict keys must be str or int to be checkpointed, got {type(key).__name__}")
        return {k: to_weights_only(v, f"{where}[{k!r}]") for k, v in value.items()}
    raise TypeError(
        f"{where}: a {type(value).__name__} cannot be checkpointed with weights_only loading; "
        f"state_dict() must return tensors, numpy arrays, numbers, strings, lists or dicts"
    )


def from_weights_only(value: Any) -> Any:
    if isinstance(value, dict):
        if _NDARRAY in value and set(value) == {_NDARRAY, "dtype"}:
            data = value[_NDARRAY]
            return data.numpy().astype(value["dtype"]) if isinstance(data, torch.Tensor) else np.array(data, dtype=value["dtype"])
        return {k: from_weights_only(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_weights_only(v) for v in value]
    if isinstance(value, tuple):
        return tuple(from_weights_only(v) for v in value)
    return value


def save_checkpoint(
    checkpoint_dir: Path,
    step: int,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    rng_state: dict[str, Any] | Sequence[dict[str, Any]],
    trainer_state: dict[str, Any],
    keep: int = 1,
    hook_state: dict[str, Any] | None = None,
) -> Path:
    """Write ``step-N/`` atomically. ``rng_state``: one dict (rank 0) or one per rank."""
    final = checkpoint_dir / f"step-{step:06d}"
    rng_states = [rng_state] if isinstance(rng_state, dict) else list(rng_state)
    with atomic_directory(final) as tmp:
        save_file(safetensors_state(model), str(tmp / "model.safetensors"))
        torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()}, tmp / "optimizer.pt")
        for rank, state in enumerate(rng_states):
            torch.save(state, tmp / f"rng-rank{rank}.pt")
        torch.save(to_weights_only(hook_state or {}, "hook state"), tmp / "hooks.pt")
        (tmp / "trainer_state.json").write_text(json.dumps({**trainer_state, "step": step}, indent=2, default=str))
    for old in list_checkpoints(checkpoint_dir)[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
    return final


def list_checkpoints(checkpoint_dir: Path) -> list[Path]:
    if not checkpoint_dir.is_dir():
        return []
    found = [p for p in checkpoint_dir.iterdir() if p.is_dir() and _STEP_DIR.match(p.name)]
    return sorted(found, key=lambda p: int(_STEP_DIR.match(p.name).group(1)))


def _is_complete(path: Path) -> bool:
    return all((path / f).exists() for f in _REQUIRED) and ((path / "rng-rank0.pt").exists() or (path / "rng.pt").exists())


def latest_checkpoint(checkpoint_dir: Path) -> Path | None:
    """The newest complete checkpoint (temp folders never match ``step-N``)."""
    for path in reversed(list_checkpoints(checkpoint_dir)):
        if _is_complete(path):
            return path
        logger.warning("ignoring incomplete checkpoint %s", path)
    return None


def read_trainer_state(path: Path) -> dict[str, Any]:
    return json.loads((path / "trainer_state.json").read_text())


def load_rng_state(path: Path, rank: int = 0) -> dict[str, Any]:
    """Process ``rank``'s RNG state; rank 0's (with a warning) when the checkpoint has none for it
    (it was written by fewer processes)."""
    own = path / f"rng-rank{rank}.pt"
    if own.exists():
        return torch.load(own, map_location="cpu", weights_only=True)
    fallback = path / "rng-rank0.pt" if (path / "rng-rank0.pt").exists() else path / "rng.pt"
    if rank != 0:
        logger.warning("%s has no RNG state for rank %d (written by fewer processes); using rank 0's", path, rank)
    return torch.load(fallback, map_location="cpu", weights_only=True)


def load_hook_state(path: Path) -> dict[str, Any]:
    file = path / "hooks.pt"
    if not file.exists():
        return {}
    return from_weights_only(torch.load(file, map_location="cpu", weights_only=True))


def load_checkpoint(path: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any = None,
                    rank: int = 0) -> tuple[dict, dict]:
    """Load weights and optimizer (and ``scheduler``, when given) in place; return
    ``(trainer_state, rng_state of rank)``. The trainer rebuilds the schedule instead of
    loading it (see :func:`multicl.train.schedule.build_scheduler`)."""
    state = load_file(str(path / "model.safetensors"))
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise RuntimeError(
            f"checkpoint {path} does not match the model: missing {missing[:5]}, unexpected {unexpected[:5]}"
        )
    opt = torch.load(path / "optimizer.pt", map_location="cpu", weights_only=True)
    optimizer.load_state_dict(opt["optimizer"])
    if scheduler is not None:
        scheduler.load_state_dict(opt["scheduler"])
    return read_trainer_state(path), load_rng_state(path, rank)
