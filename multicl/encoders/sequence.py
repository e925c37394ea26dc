"""Encoders over time. Inputs: ``{"values": (B, T, C), "lengths": (B,)}`` or ``{"frames": (B, T, C, H, W), "lengths"}``.

* ``TCNEncoder``: residual blocks of dilated 1-D convolutions (dilation 1, 2, 4, ...; Bai et al.
  2018, TS2Vec's backbone family), masked mean+max pooling over valid steps -> linear.
* ``SequenceTransformerEncoder``: patches of ``patch`` steps -> linear tokens + sinusoidal
  positions -> pre-norm transformer with a key-padding mask -> masked mean.
* ``FrameCNNEncoder``: a small 2-D CNN per frame (global average pool) -> per-frame features ->
  the TCN over time. Per-frame features computed elsewhere go straight to ``TCNEncoder``.

Padding never changes an embedding: features at padded steps are zeroed after every block and
excluded from pooling, so a series embeds the same alone or in a padded batch (eval mode).
"""
from __future__ import annotations

import math

import torch
from torch import nn


def valid_mask(lengths: torch.Tensor, steps: int) -> torch.Tensor:
    """(B,) lengths -> bool (B, steps), True at real steps."""
    return torch.arange(steps, device=lengths.device)[None, :] < lengths[:, None]


def masked_mean_max(features: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """(B, C, T) features, bool (B, T) -> (B, 2C): mean and max over the valid steps."""
    v = valid[:, None, :]
    mean = (features * v).sum(-1) / v.sum(-1).clamp(min=1)
    peak = features.masked_fill(~v, torch.finfo(features.dtype).min).amax(-1)
    return torch.cat([mean, peak], dim=1)


class _TemporalBlock(nn.Module):
    """conv(k, dilation d) -> BN -> GELU -> dropout -> conv -> BN, + residual; 'same' length.

    Padded steps are zeroed before each convolution, so they act exactly like the convolution's
    own zero padding at the end of a series (an embedding does not depend on the batch).
    """

    def __init__(self, in_channels: int, channels: int, kernel_size: int, dilation: int, dropout: float) -> None:
        super().__init__()
        pad = (kernel_size - 1) * dilation // 2
        self.conv1 = nn.Conv1d(in_channels, channels, kernel_size, padding=pad, dilation=dilation)
        self.norm1 = nn.BatchNorm1d(channels)
        self.conv2 = nn.Conv1d(channels, channels, kernel_size, padding=pad, dilation=dilation)
        self.norm2 = nn.BatchNorm1d(channels)
        self.dropout = nn.Dropout(dropout)
        self.skip = nn.Conv1d(in_channels, channels, 1) if in_channels != channels else nn.Identity()

    def forward(self, x: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        v = valid[:, None, :].to(x.dtype)  # (B, 1, T)
        h = self.dropout(torch.nn.functional.gelu(self.norm1(self.conv1(x)))) * v
        h = self.norm2(self.conv2(h))
        return torch.nn.functional.gelu(h + self.skip(x)) * v


class TemporalConvNet(nn.Module):
    """(B, C_in, T) + valid (B, T) -> (B, channels, T)."""

    def __init__(self, in_channels: int, channels: int = 64, levels: int = 4, kernel_size: int = 5, dropout: float = 0.1) -> None:
        super().__init__()
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd ('same' padding), got {kernel_size}")
        self.blocks = nn.ModuleList(
            _TemporalBlock(in_channels if i == 0 else channels, channels, kernel_size, 2**i, dropout) for i in range(levels)
        )

    def forward(self, x: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        x = x * valid[:, None, :]
        for block in self.blocks:
            x = block(x, valid)
        return x


class TCNEncoder(nn.Module):
    """Dilated residual 1-D CNN over ``values`` -> masked mean+max -> linear (B, embed_dim)."""

    def __init__(self, in_channels: int, embed_dim: int = 128, channels: int = 64, levels: int = 4, kernel_size: int = 5,
                 dropout: float = 0.1) -> None:
        super().__init__()
        self.tcn = TemporalConvNet(in_channels, channels, levels, kernel_size, dropout)
        self.out = nn.Linear(2 * channels, embed_dim)
        self.embed_dim = embed_dim

    def forward(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        x = inputs["values"]  # (B, T, C)
        valid = valid_mask(inputs["lengths"], x.shape[1])
        h = self.tcn(x.transpose(1, 2), valid)  # (B, channels, T)
        return self.out(masked_mean_max(h, valid))


def sinusoidal_positions(steps: int, dim: int, device: torch.device) -> torch.Tensor:
    position = torch.arange(steps, device=device, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, dim, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / dim))
    table = torch.zeros(steps, dim, device=device)
    table[:, 0::2] = torch.sin(position * freq)
    table[:, 1::2] = torch.cos(position * freq)[:, : dim // 2]
    return table  # (steps, dim)


class SequenceTransformerEncoder(nn.Module):
    """Patch tokens (``patch`` steps each) + sinusoidal positions -> transformer -> masked mean -> linear."""

    def __init__(self, in_channels: int, embed_dim: int = 128, d_model: int = 64, heads: int = 4, layers: int = 2, patch: int = 4,
                 dropout: float = 0.1) -> None:
        super().__init__()
        self.patch = patch
        self.tokens = nn.Linear(in_channels * patch, d_model)
        layer = nn.TransformerEncoderLayer(d_model, heads, 4 * d_model, dropout, batch_first=True, norm_first=True, activation="gelu")
        self.transformer = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model)
        self.out = nn.Linear(d_model, embed_dim)
        self.embed_dim = embed_dim

    def forward(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        x, lengths = inputs["values"], inputs["lengths"]  # (B, T, C)
        b, t, c = x.shape
        pad = (-t) % self.patch
        x = torch.nn.functional.pad(x * valid_mask(lengths, t)[..., None], (0, 0, 0, pad))
        tokens = self.tokens(x.reshape(b, (t + pad) // self.patch, self.patch * c))  # (B, P, d_model)
        tokens = tokens + sinusoidal_positions(tokens.shape[1], tokens.shape[2], x.device).to(tokens.dtype)
        valid = valid_mask((lengths + self.patch - 1) // self.patch, tokens.shape[1])  # a patch with any real step counts
        h = self.norm(self.transformer(tokens, src_key_padding_mask=~valid))
        mean = (h * valid[..., None]).sum(1) / valid.sum(1, keepdim=True).clamp(min=1)
        return self.out(mean)


class FrameCNNEncoder(nn.Module):
    """Per-frame 2-D CNN (3 x conv-BN-ReLU-pool, global average) -> (B, T, F) -> TCN over time -> pool."""

    def __init__(self, in_channels: int = 3, embed_dim: int = 128, frame_channels: tuple[int, ...] = (16, 32, 64), channels: int = 64,
                 levels: int = 3) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        previous = in_channels
        for width in frame_channels:
            layers += [nn.Conv2d(previous, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(inplace=True), nn.MaxPool2d(2, ceil_mode=True)]
            previous = width
        self.frame_cnn = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.frame_dim = previous
        self.temporal = TCNEncoder(previous, embed_dim, channels, levels, kernel_size=3)
        self.embed_dim = embed_dim

    def forward(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        frames, lengths = inputs["frames"], inputs["lengths"]  # (B, T, C, H, W)
        b, t = frames.shape[:2]
        valid = valid_mask(lengths, t)
        feats = self.frame_cnn(frames[valid])  # (real frames, F): padding never reaches BatchNorm
        per_frame = torch.zeros(b, t, self.frame_dim, device=frames.device, dtype=feats.dtype)
        per_frame[valid] = feats
        return self.temporal({"values": per_frame, "lengths": lengths})


SEQUENCE_ENCODERS = {"tcn": TCNEncoder, "transformer": SequenceTransformerEncoder, "frame_cnn": FrameCNNEncoder}


def build_sequence_encoder(name: str, in_channels: int, embed_dim: int = 128) -> nn.Module:
    """``tcn`` | ``transformer`` (over ``values``) | ``frame_cnn`` (over ``frames``) with default sizes."""
    if name not in SEQUENCE_ENCODERS:
        raise ValueError(f"unknown sequence encoder {name!r}; available: {sorted(SEQUENCE_ENCODERS)}")
    return SEQUENCE_ENCODERS[name](in_channels, embed_dim)
