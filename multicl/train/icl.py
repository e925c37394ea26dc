"""Internal contrastive learning for anomaly detection on rows (ICL; Shenkar & Wolf 2022): an
encoder of each window of consecutive features and one of the features outside it, trained on
normal rows only so that each window finds its own complement within its row; a row's loss is its
anomaly score (:class:`~multicl.objectives.internal_contrastive.InternalContrastiveLoss`).

Input rows are dense float vectors (scaled numerics + one-hot categoricals, what the raw-feature
baselines and NeuTraL-AD use). Sizes follow the authors' code: window length by the number of
features F (:func:`window_length`), both encoders bias-free LeakyReLU MLPs ``-> 100 -> 50 -> 128``.
Training goes through :class:`~multicl.train.trainer.Trainer` (checkpoints, exact resume, run identity).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from multicl.objectives.internal_contrastive import InternalContrastiveLoss
from multicl.train.rows import RowsDataset, RowsLearner, collate_rows
from multicl.train.saved_module import load_module, save_module

CONFIG_FILE, WEIGHTS_FILE = "icl.json", "icl.safetensors"


def window_length(num_features: int) -> int:
    """The authors' rule: 2 features for F <= 40, 10 for F <= 160, then F - 150 / F - 200 / F - 400."""
    if num_features < 3:
        raise ValueError(f"ICL needs at least 3 features (a window, its complement and a second window), got {num_features}")
    if num_features <= 40:
        return 2
    if num_features <= 160:
        return 10
    return num_features - (150 if num_features <= 240 else 200 if num_features <= 480 else 400)


def _mlp(sizes: Sequence[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b, bias=False))
        if i < len(sizes) - 2:
            layers.append(nn.LeakyReLU(0.2))
    return nn.Sequential(*layers)


class ICLModel(nn.Module):
    """``pairs(x (B, F)) -> (windows (B, W, D), complements (B, W, D))`` over the ``W = F - k + 1``
    windows of ``k`` consecutive features."""

    def __init__(self, in_dim: int, window: int = 0, hidden: Sequence[int] = (100, 50), embed_dim: int = 128) -> None:
        super().__init__()
        window = window or window_length(in_dim)
        if not 1 <= window <= in_dim - 2:
            raise ValueError(f"the window must leave at least 2 features outside it and make 2+ windows: 1 <= window <= {in_dim - 2}, got {window}")
        self.config = {"in_dim": in_dim, "window": window, "hidden": list(hidden), "embed_dim": embed_dim}
        starts = torch.arange(in_dim - window + 1)
        inside = starts[:, None] + torch.arange(window)[None]  # (W, k)
        outside = torch.stack([torch.cat([torch.arange(s), torch.arange(s + window, in_dim)]) for s in starts.tolist()])  # (W, F-k)
        self.register_buffer("inside", inside, persistent=False)
        self.register_buffer("outside", outside, persistent=False)
        self.window_encoder = _mlp([window, *hidden, embed_dim])
        self.complement_encoder = _mlp([in_dim - window, *hidden, embed_dim])

    def pairs(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = x.float()
        return self.window_encoder(x[:, self.inside]), self.complement_encoder(x[:, self.outside])


class ICLLearner(RowsLearner):
    """The trainer's ``Learner``: ``forward({"x": (B, F)}) -> ICL loss``."""

    def __init__(self, model: ICLModel, objective: InternalContrastiveLoss) -> None:
        super().__init__(model, objective, model.complement_encoder)

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        return self.objective(*self.model.pairs(x))


def train_icl(model: ICLModel, normal: np.ndarray, out_dir: str | Path, steps: int, batch_size: int = 256,
              learning_rate: float = 1e-3, temperature: float = 0.01, seed: int = 0, device: str = "cpu",
              overwrite: bool = False, progress_bar: bool = False) -> tuple[ICLModel, dict[str, Any]]:
    """Train ``model`` on ``normal`` rows (float (N, F)) for ``steps`` steps of ``batch_size`` rows (Adam
    without weight decay, constant rate after 5% warm-up) -> (model, trainer summary). Resumes from
    ``out_dir/checkpoints`` when they hold the same run; ``overwrite`` starts over."""
    from multicl.train.config import TrainerConfig
    from multicl.train.trainer import Trainer

    if len(normal) < batch_size:
        raise ValueError(f"{len(normal)} normal training rows, fewer than one batch of {batch_size}; lower the batch size")
    if normal.shape[1] != model.config["in_dim"]:
        raise ValueError(f"rows have {normal.shape[1]} features, the model expects {model.config['in_dim']}")
    learner = ICLLearner(model, InternalContrastiveLoss(temperature))
    cfg = TrainerConfig(out_dir=str(out_dir), max_steps=steps, batch_size=batch_size, learning_rate=learning_rate, weight_decay=0.0,
                        warmup_ratio=0.05, lr_schedule="constant", max_grad_norm=None, precision="no", seed=seed, device=device,
                        log_every=50, save_every=None, progress_bar=progress_bar, tensorboard=False, overwrite=overwrite)
    summary = Trainer(learner, RowsDataset(normal), collate_rows, cfg).train()
    return model.cpu(), summary


@torch.no_grad()
def icl_scores(model: ICLModel, x: np.ndarray, temperature: float = 0.01, batch_size: int = 1024,
               device: str | torch.device = "cpu") -> np.ndarray:
    """Rows (N, F) -> float64 (N,) ICL losses: higher = more anomalous. Repeated rows (KDD99 repeats
    records) are scored once."""
    if x.ndim != 2 or x.shape[1] != model.config["in_dim"]:
        raise ValueError(f"rows must be (N, {model.config['in_dim']}), got {x.shape}")
    x, inverse = np.unique(np.ascontiguousarray(x, dtype=np.float32), axis=0, return_inverse=True)
    was_training = model.training
    model.eval().to(device)
    loss = InternalContrastiveLoss(temperature)
    try:
        out = [loss.row_scores(*model.pairs(torch.from_numpy(np.ascontiguousarray(x[i:i + batch_size], dtype=np.float32)).to(device))).cpu()
               for i in range(0, len(x), batch_size)]
    finally:
        model.train(was_training)
    return torch.cat(out).double().numpy()[inverse.reshape(-1)] if out else np.zeros(0)


def save_model(model: ICLModel, folder: str | Path, extra: dict[str, Any] | None = None) -> Path:
    """Weights (safetensors) + constructor arguments (json) into ``folder``; ``extra`` is stored beside them."""
    return save_module(model, folder, CONFIG_FILE, WEIGHTS_FILE, extra)


def load_model(folder: str | Path) -> ICLModel:
    """What :func:`save_model` wrote (strict: every weight must fit)."""
    return load_module(ICLModel, folder, CONFIG_FILE, WEIGHTS_FILE, "multicl.train.icl.save_model")
