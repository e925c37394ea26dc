"""GOAD for rows (Bergman & Hoshen 2020): M fixed random affine maps of the row, one shared network
trained on normal rows only to tell which map made its input; the anomaly score is how badly a row's
transformed copies are told apart (:class:`~multicl.objectives.goad.GOADLoss`).

Input rows are dense float vectors (scaled numerics + one-hot categoricals, what the raw-feature
baselines, NeuTraL-AD and ICL use). Sizes follow the authors' KDD settings: M = 64 Gaussian maps
``F -> 64`` (drawn from ``projection_seed``, stored with the weights), a trunk of 5 bias-free linear
layers of 32 with LeakyReLU(0.2) between (the feature ``f_m``), a head LeakyReLU + linear to M logits,
Xavier-normal initialisation with gain sqrt(2). After training, the centres ``c_m`` are the mean
feature of each map over every normal training row (the authors average the batch means of the last
epoch); they are stored with the weights. Training goes through :class:`~multicl.train.trainer.Trainer`
(checkpoints, exact resume, run identity); the authors' Adam has betas (0.5, 0.999), the trainer's
AdamW (0.9, 0.999) with no weight decay.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from multicl.objectives.goad import GOADLoss
from multicl.train.rows import RowsDataset, RowsLearner, collate_rows
from multicl.train.saved_module import load_module, save_module

CONFIG_FILE, WEIGHTS_FILE = "goad.json", "goad.safetensors"


class GOADModel(nn.Module):
    """``forward(x (B, F)) -> (features (B, M, hidden), logits (B, M, M))``; ``centres`` (M, hidden) is
    set by :func:`fit_centres` after training."""

    def __init__(self, in_dim: int, num_transforms: int = 64, projection_dim: int = 64, hidden_dim: int = 32,
                 trunk_layers: int = 5, projection_seed: int = 0) -> None:
        super().__init__()
        if num_transforms < 2:
            raise ValueError(f"GOAD needs at least 2 transformations (each must be told from the others), got {num_transforms}")
        if trunk_layers < 1 or min(in_dim, projection_dim, hidden_dim) < 1:
            raise ValueError(f"in_dim, projection_dim, hidden_dim and trunk_layers must be >= 1, got {in_dim}, {projection_dim}, "
                             f"{hidden_dim}, {trunk_layers}")
        self.config = {"in_dim": in_dim, "num_transforms": num_transforms, "projection_dim": projection_dim, "hidden_dim": hidden_dim,
                       "trunk_layers": trunk_layers, "projection_seed": projection_seed}
        generator = torch.Generator().manual_seed(projection_seed)
        self.register_buffer("projections", torch.randn(num_transforms, in_dim, projection_dim, generator=generator))
        self.register_buffer("centres", torch.zeros(num_transforms, hidden_dim))
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip([projection_dim] + [hidden_dim] * (trunk_layers - 1), [hidden_dim] * trunk_layers)):
            layers += [nn.LeakyReLU(0.2)] if i else []
            layers.append(nn.Linear(a, b, bias=False))
        self.trunk = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.LeakyReLU(0.2), nn.Linear(hidden_dim, num_transforms))
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_normal_(module.weight, gain=math.sqrt(2.0))
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if x.dim() != 2 or x.shape[1] != self.config["in_dim"]:
            raise ValueError(f"rows must be (B, {self.config['in_dim']}), got {tuple(x.shape)}")
        transformed = torch.einsum("bf,mfr->bmr", x.float(), self.projections)  # (B, M, projection_dim)
        features = self.trunk(transformed)
        return features, self.head(features)


class GOADLearner(RowsLearner):
    """The trainer's ``Learner``: ``forward({"x": (B, F)}) -> GOAD loss``."""

    def __init__(self, model: GOADModel, objective: GOADLoss) -> None:
        super().__init__(model, objective, model.trunk)

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        return self.objective(*self.model(x))


def epochs_to_steps(epochs: float, rows: int, batch_size: int) -> int:
    """The authors count epochs of ``ceil(rows / batch)`` batches; the trainer counts steps."""
    if epochs <= 0:
        raise ValueError(f"epochs must be positive, got {epochs}")
    return max(1, round(epochs * math.ceil(rows / batch_size)))


def _batches(model: GOADModel, x: np.ndarray, batch_size: int, device: str | torch.device):
    for i in range(0, len(x), batch_size):
        yield model(torch.from_numpy(np.ascontiguousarray(x[i:i + batch_size], dtype=np.float32)).to(device))[0]


@torch.no_grad()
def fit_centres(model: GOADModel, normal: np.ndarray, batch_size: int = 4096, device: str | torch.device = "cpu") -> GOADModel:
    """Set ``model.centres`` to the mean feature of each transformation over the ``normal`` rows -> ``model``."""
    was_training = model.training
    model.eval().to(device)
    try:
        total = sum(f.double().sum(0) for f in _batches(model, normal, batch_size, device))
        model.centres.copy_((total / len(normal)).to(model.centres))
    finally:
        model.train(was_training)
    return model


def train_goad(model: GOADModel, normal: np.ndarray, out_dir: str | Path, steps: int, batch_size: int = 64,
               learning_rate: float = 1e-3, margin: float = 1.0, weight: float = 0.1, seed: int = 0, device: str = "cpu",
               overwrite: bool = False, progress_bar: bool = False) -> tuple[GOADModel, dict[str, Any]]:
    """Train ``model`` on ``normal`` rows (float (N, F)) for ``steps`` steps of ``batch_size`` rows (constant
    rate, no weight decay), then fit its centres on every normal row -> (model on CPU, trainer summary).
    Resumes from ``out_dir/checkpoints`` when they hold the same run; ``overwrite`` starts over."""
    from multicl.train.config import TrainerConfig
    from multicl.train.trainer import Trainer

    if len(normal) < batch_size:
        raise ValueError(f"{len(normal)} normal training rows, fewer than one batch of {batch_size}; lower the batch size")
    if normal.ndim != 2 or normal.shape[1] != model.config["in_dim"]:
        raise ValueError(f"rows have shape {normal.shape}, the model expects (N, {model.config['in_dim']})")
    learner = GOADLearner(model, GOADLoss(margin, weight))
    cfg = TrainerConfig(out_dir=str(out_dir), max_steps=steps, batch_size=batch_size, learning_rate=learning_rate, weight_decay=0.0,
                        warmup_ratio=0.0, lr_schedule="constant", max_grad_norm=None, precision="no", seed=seed, device=device,
                        log_every=200, save_every=None, progress_bar=progress_bar, tensorboard=False, overwrite=overwrite)
    summary = Trainer(learner, RowsDataset(normal), collate_rows, cfg).train()
    return fit_centres(model, normal, device=device).cpu(), summary


@torch.no_grad()
def goad_scores(model: GOADModel, x: np.ndarray, batch_size: int = 2048, device: str | torch.device = "cpu") -> np.ndarray:
    """Rows (N, F) -> float64 (N,) GOAD scores (higher = more anomalous), against the fitted centres."""
    if x.ndim != 2 or x.shape[1] != model.config["in_dim"]:
        raise ValueError(f"rows must be (N, {model.config['in_dim']}), got {x.shape}")
    if not bool(model.centres.abs().sum() > 0):
        raise ValueError("the GOAD model has no centres yet: call fit_centres(model, normal_rows) (train_goad does) first")
    was_training = model.training
    model.eval().to(device)
    loss = GOADLoss()
    try:
        out = [loss.row_scores(f, model.centres).cpu() for f in _batches(model, x, batch_size, device)]
    finally:
        model.train(was_training)
    return torch.cat(out).double().numpy() if out else np.zeros(0)


def save_model(model: GOADModel, folder: str | Path, extra: dict[str, Any] | None = None) -> Path:
    """Weights, projections and centres (safetensors) + constructor arguments (json) into ``folder``."""
    return save_module(model, folder, CONFIG_FILE, WEIGHTS_FILE, extra)


def load_model(folder: str | Path) -> GOADModel:
    """What :func:`save_model` wrote (strict: every weight, the projections and the centres must fit)."""
    return load_module(GOADModel, folder, CONFIG_FILE, WEIGHTS_FILE, "multicl.train.goad.save_model")
