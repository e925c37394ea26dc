"""A plain supervised classifier on top of any encoder (the baseline contrastive methods must beat)."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch
from torch import nn


def train_classifier(encoder: nn.Module, inputs_of: Callable[[np.ndarray], dict[str, torch.Tensor]], labels: np.ndarray,
                     num_classes: int, steps: int = 500, batch_size: int = 256, learning_rate: float = 1e-3,
                     weight_decay: float = 1e-4, seed: int = 0, device: str | torch.device = "cpu",
                     class_weighted: bool = True) -> nn.Module:
    """Cross-entropy training of ``encoder`` + a linear layer on labelled rows.

    ``inputs_of(row_indices)`` returns the encoder inputs of those rows. With ``class_weighted``
    the loss weighs classes by inverse frequency (rare attack families would otherwise be
    ignored). Returns the classifier ``nn.Sequential(encoder, linear)`` in eval mode.
    """
    if len(labels) == 0:
        raise ValueError("no labelled rows to train on")
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = nn.Sequential(encoder, nn.Linear(encoder.embed_dim, num_classes)).to(device)
    counts = np.bincount(labels, minlength=num_classes).astype(np.float64)
    weight = None
    if class_weighted:
        weight = torch.tensor(np.where(counts > 0, counts.sum() / np.maximum(counts, 1) / num_classes, 0.0), dtype=torch.float32, device=device)
    loss_fn = nn.CrossEntropyLoss(weight=weight)
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=weight_decay)
    y = torch.as_tensor(labels, dtype=torch.long)
    model.train()
    batch = min(batch_size, len(labels))
    for _ in range(steps):
        rows = torch.randint(0, len(labels), (batch,), generator=generator).numpy()
        inputs: dict[str, Any] = {k: v.to(device) for k, v in inputs_of(rows).items()}
        loss = loss_fn(model(inputs), y[rows].to(device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return model.eval()


@torch.no_grad()
def predict(model: nn.Module, inputs_of: Callable[[np.ndarray], dict[str, torch.Tensor]], n: int, batch_size: int = 4096,
            device: str | torch.device = "cpu") -> np.ndarray:
    out = []
    for start in range(0, n, batch_size):
        rows = np.arange(start, min(start + batch_size, n))
        out.append(model({k: v.to(device) for k, v in inputs_of(rows).items()}).argmax(1).cpu().numpy())
    return np.concatenate(out)
