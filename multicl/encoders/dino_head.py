"""DINO's projection head: MLP -> L2-normalised bottleneck -> weight-normalised linear to K logits."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import weight_norm

from multicl.utils.gradient import gradient_gate


class DINOHead(nn.Module):
    """Args:
        in_dim: the encoder's embedding size.
        out_dim: K, the number of output "prototypes" (the paper: 65,536 for ImageNet; a few
            thousand suit datasets of thousands of samples).
        hidden_dim / bottleneck_dim / layers: the MLP (GELU between layers), 2048 / 256 / 3 in the paper.
        norm_last_layer: fix the weight norm's magnitude to 1 (cosine logits; the paper's
            stabler setting).
        batch_norm: the paper's ``use_bn``: BatchNorm1d on the input and after each hidden layer
            (an encoder whose embedding has a large component shared by every sample, such as
            pooled ReLU features, otherwise gives a flat teacher output and a uniform collapse).
    ``forward(x (B, in_dim)) -> (B, out_dim)``. ``last_layer_trainable`` (set by the learner's
    schedule) freezes the last layer's direction for the first steps (zero gradient, DDP-safe).
    Weight normalisation is ``torch.nn.utils.parametrizations.weight_norm`` (the old
    ``nn.utils.weight_norm`` is deprecated in torch 2).
    """

    def __init__(self, in_dim: int, out_dim: int = 4096, hidden_dim: int = 512, bottleneck_dim: int = 128, layers: int = 3,
                 norm_last_layer: bool = True, batch_norm: bool = False) -> None:
        super().__init__()
        if layers < 1:
            raise ValueError(f"layers must be >= 1, got {layers}")
        dims = [in_dim] + [hidden_dim] * (layers - 1) + [bottleneck_dim]
        blocks: list[nn.Module] = [nn.BatchNorm1d(in_dim)] if batch_norm else []
        for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
            blocks.append(nn.Linear(a, b))
            if i < len(dims) - 2:
                if batch_norm:
                    blocks.append(nn.BatchNorm1d(b))
                blocks.append(nn.GELU())
        self.mlp = nn.Sequential(*blocks)
        self.last_layer = weight_norm(nn.Linear(bottleneck_dim, out_dim, bias=False))
        magnitude = self.last_layer.parametrizations.weight.original0
        with torch.no_grad():
            magnitude.fill_(1.0)
        magnitude.requires_grad_(not norm_last_layer)
        self.out_dim = out_dim
        self.last_layer_trainable = True
        self.apply(_truncated_normal_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.normalize(self.mlp(x), dim=-1)
        weight = gradient_gate(self.last_layer.weight, self.last_layer_trainable)
        return F.linear(x, weight)


def _truncated_normal_init(module: nn.Module) -> None:
    if isinstance(module, nn.Linear) and not parametrize.is_parametrized(module):  # the weight-normed layer keeps its init
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
