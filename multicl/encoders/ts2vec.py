"""TS2Vec's encoder (Yue et al. 2022): per-timestep representations of a series.

In: ``{"values": (B, T, C) standardised, zero-padded, "lengths": (B,)}``.

* :meth:`TS2VecEncoder.forward_steps` -> (B, T, embed_dim): input projection (linear per step)
  -> timestamp masking (train mode only: each step's latent kept with probability
  ``1 - mask_p``, TS2Vec's binomial mask, p = 0.5) -> ``depth`` residual blocks of dilated
  convolutions (GELU -> conv(k, d) -> GELU -> conv(k, d) + skip; dilation 1, 2, 4, ...) and a
  last block to ``embed_dim`` -> dropout (0.1) on the representation. Zeros at padded steps.
* :meth:`TS2VecEncoder.forward` -> (B, embed_dim): the instance embedding, max-pooling of the
  per-timestep output over the valid steps (TS2Vec's ``encoding_window='full_series'``).

No batch statistics (no BatchNorm) and padded steps are zeroed before every convolution, so an
embedding never depends on the batch it was computed in (eval mode). Paper sizes: hidden 64,
depth 10, output 320; kernel 3.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from multicl.encoders.sequence import valid_mask


class _DilatedBlock(nn.Module):
    """GELU -> conv(k, d) -> GELU -> conv(k, d), + residual (1x1 projection when widths differ or last)."""

    def __init__(self, in_channels: int, channels: int, kernel_size: int, dilation: int, final: bool) -> None:
        super().__init__()
        pad = (kernel_size - 1) * dilation // 2  # odd kernel: 'same' length
        self.conv1 = nn.Conv1d(in_channels, channels, kernel_size, padding=pad, dilation=dilation)
        self.conv2 = nn.Conv1d(channels, channels, kernel_size, padding=pad, dilation=dilation)
        self.projector = nn.Conv1d(in_channels, channels, 1) if in_channels != channels or final else None

    def forward(self, x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        residual = x if self.projector is None else self.projector(x)
        h = self.conv1(F.gelu(x)) * v
        h = self.conv2(F.gelu(h))
        return (h + residual) * v


class TS2VecEncoder(nn.Module):
    """Args:
        in_channels: channels of the series.
        embed_dim: size of each timestep's representation and of the instance embedding (paper: 320).
        hidden: width of the dilated blocks (paper: 64).
        depth: dilated blocks before the output block (paper: 10; dilations 1 .. 2**depth).
        kernel_size: odd kernel of every convolution (paper: 3).
        mask_p: probability of masking a timestep's latent in train mode (paper: 0.5; 0: off).
        dropout: dropout on the output representation in train mode (paper: 0.1).
    """

    def __init__(self, in_channels: int, embed_dim: int = 320, hidden: int = 64, depth: int = 10, kernel_size: int = 3,
                 mask_p: float = 0.5, dropout: float = 0.1) -> None:
        super().__init__()
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd ('same' padding), got {kernel_size}")
        if not 0 <= mask_p < 1:
            raise ValueError(f"mask_p is the probability of masking a timestep, in [0, 1); got {mask_p}")
        self.input_fc = nn.Linear(in_channels, hidden)
        widths = [hidden] * depth + [embed_dim]
        self.blocks = nn.ModuleList(_DilatedBlock(widths[i - 1] if i else hidden, w, kernel_size, 2**i, final=i == len(widths) - 1)
                                    for i, w in enumerate(widths))
        self.repr_dropout = nn.Dropout(dropout)
        self.embed_dim, self.mask_p = embed_dim, float(mask_p)

    def constructor_arguments(self) -> dict:
        """The arguments that rebuild this module (read back from its structure; the saved-model format stores them)."""
        return {"in_channels": self.input_fc.in_features, "embed_dim": self.embed_dim, "hidden": self.input_fc.out_features,
                "depth": len(self.blocks) - 1, "kernel_size": self.blocks[0].conv1.kernel_size[0], "mask_p": self.mask_p,
                "dropout": float(self.repr_dropout.p)}

    def forward_steps(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        """-> (B, T, embed_dim), zero at padded steps; masked timesteps and dropout only in train mode."""
        x = inputs["values"]  # (B, T, C)
        valid = valid_mask(inputs["lengths"], x.shape[1])
        keep = valid
        if self.training and self.mask_p > 0:  # timestamp masking: the latent, not the input, is zeroed
            keep = valid & (torch.rand(valid.shape, device=x.device) >= self.mask_p)
        h = (self.input_fc(x) * keep[..., None]).transpose(1, 2)  # (B, hidden, T)
        v = valid[:, None, :].to(h.dtype)
        for block in self.blocks:
            h = block(h, v)
        return self.repr_dropout(h.transpose(1, 2))  # (B, T, embed_dim)

    def forward(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        steps = self.forward_steps(inputs)
        valid = valid_mask(inputs["lengths"], steps.shape[1])
        return steps.masked_fill(~valid[..., None], torch.finfo(steps.dtype).min).amax(1)
