"""Resumable checkpoints: atomic folders with safetensors weights and weights_only-loadable state.

Layout of ``out_dir/checkpoints/step-000100/``:
    model.safetensors     learner state (encoder, head, learnable temperature...)
    optimizer.pt          optimizer + scheduler state (``torch.load(weights_only=True)``)
    rng.pt                torch / numpy / python (/ cuda) RNG states
    trainer_state.json    step, best metric, config
A folder appears under its final name only once complete (temp folder + rename).
"""
from __future__ import annotations

import json
import logging
import re
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from multicl.utils.io import atomic_directory

logger = logging.getLogger(__name__)
_STEP_DIR = re.compile(r"^step-(\d+)$")


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


def save_checkpoint(
    checkpoint_dir: Path,
    step: int,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    rng_state: dict[str, Any],
    trainer_state: dict[str, Any],
    keep: int = 1,
) -> Path:
    final = checkpoint_dir / f"step-{step:06d}"
    with atomic_directory(final) as tmp:
        save_file(safetensors_state(model), str(tmp / "model.safetensors"))
        torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()}, tmp / "optimizer.pt")
        torch.save(rng_state, tmp / "rng.pt")
        (tmp / "trainer_state.json").write_text(json.dumps({**trainer_state, "step": step}, indent=2, default=str))
    for old in list_checkpoints(checkpoint_dir)[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
    return final


def list_checkpoints(checkpoint_dir: Path) -> list[Path]:
    if not checkpoint_dir.is_dir():
        return []
    found = [p for p in checkpoint_dir.iterdir() if p.is_dir() and _STEP_DIR.match(p.name)]
    return sorted(found, key=lambda p: int(_STEP_DIR.match(p.name).group(1)))


def latest_checkpoint(checkpoint_dir: Path) -> Path | None:
    """The newest complete checkpoint (temp folders never match ``step-N``)."""
    for path in reversed(list_checkpoints(checkpoint_dir)):
        if all((path / f).exists() for f in ("model.safetensors", "optimizer.pt", "rng.pt", "trainer_state.json")):
            return path
        logger.warning("ignoring incomplete checkpoint %s", path)
    return None


def load_checkpoint(path: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any) -> tuple[dict, dict]:
    """Load weights, optimizer and scheduler in place; return ``(trainer_state, rng_state)``."""
    state = load_file(str(path / "model.safetensors"))
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise RuntimeError(
            f"checkpoint {path} does not match the model: missing {missing[:5]}, unexpected {unexpected[:5]}"
        )
    opt = torch.load(path / "optimizer.pt", map_location="cpu", weights_only=True)
    optimizer.load_state_dict(opt["optimizer"])
    scheduler.load_state_dict(opt["scheduler"])
    rng = torch.load(path / "rng.pt", map_location="cpu", weights_only=True)
    trainer_state = json.loads((path / "trainer_state.json").read_text())
    return trainer_state, rng
