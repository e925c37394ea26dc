"""NeuTraL-AD (Qiu et al. 2021): K learnable transformations + a shared encoder trained with the
deterministic contrastive loss on normal rows only; a row's loss is its anomaly score.

Input rows are dense float vectors (scaled numerics + one-hot categoricals, what the raw-feature
baselines use); the transformations act on that vector, as in the paper's tabular experiments:

    mul       x_k = sigmoid(M_k(x)) * x     (learned soft feature masks; the paper's KDD choice)
    residual  x_k = x + M_k(x)
    forward   x_k = M_k(x)

``M_k`` and the encoder are bias-free ReLU MLPs (the published KDD settings: encoder 5 layers of
64 -> 32, transformations 2 layers of 100). Training goes through :class:`~multicl.train.trainer.Trainer`
(checkpoints, exact resume, run identity); :class:`NeuTraLADLearner` satisfies its ``Learner`` protocol.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from multicl.objectives.neutral_ad import NeuTraLADLoss
from multicl.train.rows import RowsDataset, RowsLearner, collate_rows
from multicl.train.saved_module import load_module, save_module

TRANSFORM_KINDS = ("mul", "residual", "forward")
CONFIG_FILE, WEIGHTS_FILE = "neutral_ad.json", "neutral_ad.safetensors"


def _mlp(sizes: Sequence[int], bias: bool) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b, bias=bias))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class VectorMLPEncoder(nn.Module):
    """``forward({"x": (B, F)}) -> (B, embed_dim)``: ``layers`` bias-free linear layers with ReLU between."""

    def __init__(self, in_dim: int, embed_dim: int = 32, hidden_dim: int = 64, layers: int = 5, bias: bool = False) -> None:
        super().__init__()
        if layers < 1:
            raise ValueError(f"the encoder needs at least one layer, got {layers}")
        self.net = _mlp([in_dim] + [hidden_dim] * (layers - 1) + [embed_dim], bias)
        self.in_dim, self.embed_dim = in_dim, embed_dim

    def forward(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.net(inputs["x"].float())


class NeuTraLADModel(nn.Module):
    """``views(x (B, F)) -> z (B, K + 1, embed_dim)``: the row's embedding, then its K transformations'."""

    def __init__(self, in_dim: int, num_transforms: int = 11, transform_kind: str = "mul", embed_dim: int = 32,
                 hidden_dim: int = 64, encoder_layers: int = 5, transform_hidden: int = 100, transform_layers: int = 2,
                 bias: bool = False) -> None:
        super().__init__()
        if transform_kind not in TRANSFORM_KINDS:
            raise ValueError(f"transform_kind must be one of {TRANSFORM_KINDS}, got {transform_kind!r}")
        if num_transforms < 2:
            raise ValueError(f"NeuTraL-AD needs at least 2 transformations (each is contrasted with the others), got {num_transforms}")
        self.config = {"in_dim": in_dim, "num_transforms": num_transforms, "transform_kind": transform_kind, "embed_dim": embed_dim,
                       "hidden_dim": hidden_dim, "encoder_layers": encoder_layers, "transform_hidden": transform_hidden,
                       "transform_layers": transform_layers, "bias": bias}
        self.transforms = nn.ModuleList(_mlp([in_dim] + [transform_hidden] * (transform_layers - 1) + [in_dim], bias)
                                        for _ in range(num_transforms))
        self.encoder = VectorMLPEncoder(in_dim, embed_dim, hidden_dim, encoder_layers, bias)
        self.transform_kind = transform_kind

    def transformed(self, x: torch.Tensor) -> torch.Tensor:
        """(B, F) -> (B, K + 1, F): the row, then its K transformations."""
        out = [x]
        for transform in self.transforms:
            m = transform(x)
            out.append(torch.sigmoid(m) * x if self.transform_kind == "mul" else (x + m if self.transform_kind == "residual" else m))
        return torch.stack(out, dim=1)

    def views(self, x: torch.Tensor) -> torch.Tensor:
        xs = self.transformed(x.float())  # (B, K+1, F)
        z = self.encoder({"x": xs.reshape(-1, xs.shape[-1])})  # one pass for every view
        return z.reshape(xs.shape[0], xs.shape[1], -1)  # (B, K+1, D)


class NeuTraLADLearner(RowsLearner):
    """The trainer's ``Learner``: ``forward({"x": (B, F)}) -> DCL loss``; ``encoder`` is the shared
    encoder (the embedding of an untransformed row)."""

    def __init__(self, model: NeuTraLADModel, objective: NeuTraLADLoss) -> None:
        super().__init__(model, objective, model.encoder)

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        return self.objective(self.model.views(x))


def train_neutral_ad(model: NeuTraLADModel, normal: np.ndarray, out_dir: str | Path, steps: int, batch_size: int = 512,
                     learning_rate: float = 5e-4, temperature: float = 0.1, seed: int = 0, device: str = "cpu",
                     overwrite: bool = False, progress_bar: bool = False,
                     run_identity: dict[str, Any] | None = None) -> tuple[NeuTraLADModel, dict[str, Any]]:
    """Train ``model`` on ``normal`` rows (float (N, F)) for ``steps`` steps of ``batch_size`` rows
    (Adam(W) without weight decay, cosine decay after 5% warm-up) -> (model, trainer summary).
    Resumes from ``out_dir/checkpoints`` when they hold the same run; ``overwrite`` starts over."""
    from multicl.train.config import TrainerConfig
    from multicl.train.trainer import Trainer

    if len(normal) < batch_size:
        raise ValueError(f"{len(normal)} normal training rows, fewer than one batch of {batch_size}; lower the batch size")
    learner = NeuTraLADLearner(model, NeuTraLADLoss(temperature))
    cfg = TrainerConfig(out_dir=str(out_dir), max_steps=steps, batch_size=batch_size, learning_rate=learning_rate, weight_decay=0.0,
                        warmup_ratio=0.05, lr_schedule="cosine", max_grad_norm=None, precision="no", seed=seed, device=device,
                        log_every=50, save_every=None, progress_bar=progress_bar, tensorboard=False, overwrite=overwrite)
    summary = Trainer(learner, RowsDataset(normal), collate_rows, cfg, run_identity=run_identity).train()
    return model.cpu(), summary


@torch.no_grad()
def anomaly_scores(model: NeuTraLADModel, x: np.ndarray, temperature: float = 0.1, batch_size: int = 4096,
                   device: str | torch.device = "cpu") -> np.ndarray:
    """Rows (N, F) -> float64 (N,) DCL losses: higher = more anomalous."""
    was_training = model.training
    model.eval().to(device)
    loss = NeuTraLADLoss(temperature)
    try:
        out = [loss.row_scores(model.views(torch.from_numpy(np.ascontiguousarray(x[i:i + batch_size], dtype=np.float32)).to(device))).cpu()
               for i in range(0, len(x), batch_size)]
    finally:
        model.train(was_training)
    return torch.cat(out).double().numpy() if out else np.zeros(0)


@torch.no_grad()
def view_embeddings(model: NeuTraLADModel, x: np.ndarray, batch_size: int = 4096, device: str | torch.device = "cpu") -> np.ndarray:
    """Rows (N, F) -> float32 (N, (K + 1) D): the row's and its K transformations' embeddings, each
    unit-normalised, concatenated (cosine on it = the mean cosine over the K + 1 views)."""
    was_training = model.training
    model.eval().to(device)
    try:
        out = [torch.nn.functional.normalize(model.views(torch.from_numpy(np.ascontiguousarray(x[i:i + batch_size], dtype=np.float32)).to(device)),
                                             dim=-1).flatten(1).cpu() for i in range(0, len(x), batch_size)]
    finally:
        model.train(was_training)
    return (torch.cat(out) / (model.config["num_transforms"] + 1) ** 0.5).numpy() if out else np.zeros((0, 0), np.float32)


def save_model(model: NeuTraLADModel, folder: str | Path, extra: dict[str, Any] | None = None) -> Path:
    """Weights (safetensors) + constructor arguments (json) into ``folder``; ``extra`` is stored beside them."""
    return save_module(model, folder, CONFIG_FILE, WEIGHTS_FILE, extra)


def load_model(folder: str | Path) -> NeuTraLADModel:
    """What :func:`save_model` wrote (strict: every weight must fit)."""
    return load_module(NeuTraLADModel, folder, CONFIG_FILE, WEIGHTS_FILE, "multicl.train.neutral_ad.save_model")
