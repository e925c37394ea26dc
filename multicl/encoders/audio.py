"""Audio encoders. Inputs: ``{"waveform": (B, L) float32, "lengths": (B,) valid samples}``.

``LogMelFrontend`` turns waveforms into log-mel spectrograms with torchaudio on the encoder's
device (the GPU when there is one) and, in training mode only, applies SpecAugment (time and
frequency masks drawn independently per row, so two views of one clip get different masks).
``AudioCNNEncoder``: the frontend + a compact 2-D CNN with length-masked pooling over time;
trains on a CPU in minutes. ``HFAudioEncoder``: any transformers waveform model (wav2vec2,
HuBERT, WavLM...) by path or hub name, mean-pooled over valid frames.
"""
from __future__ import annotations

import torch
import torchaudio
from torch import nn


class LogMelFrontend(nn.Module):
    def __init__(self, sample_rate: int = 8000, n_mels: int = 40, win_ms: float = 25.0, hop_ms: float = 10.0,
                 freq_mask: int = 0, time_mask: int = 0, num_masks: int = 2) -> None:
        super().__init__()
        n_fft = 1
        while n_fft < sample_rate * win_ms / 1000:
            n_fft *= 2
        self.hop = int(sample_rate * hop_ms / 1000)
        self.mel = torchaudio.transforms.MelSpectrogram(sample_rate, n_fft=n_fft, win_length=int(sample_rate * win_ms / 1000),
                                                        hop_length=self.hop, n_mels=n_mels, center=True)
        self.freq_masks = nn.ModuleList(torchaudio.transforms.FrequencyMasking(freq_mask, iid_masks=True) for _ in range(num_masks if freq_mask else 0))
        self.time_masks = nn.ModuleList(torchaudio.transforms.TimeMasking(time_mask, iid_masks=True) for _ in range(num_masks if time_mask else 0))
        self.n_mels = n_mels

    def frames(self, lengths: torch.Tensor) -> torch.Tensor:
        return lengths // self.hop + 1  # center=True pads half a window on each side

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        with torch.autocast(waveform.device.type, enabled=False):  # the STFT wants fp32
            spec = torch.log(self.mel(waveform.float()) + 1e-6)  # (B, n_mels, T)
        if self.training:
            x = spec[:, None]  # iid masks need (B, C, F, T)
            for mask in [*self.freq_masks, *self.time_masks]:
                x = mask(x, mask_value=float(spec.mean()))
            spec = x[:, 0]
        return spec


def masked_time_pool(features: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
    """(B, C, T) features, valid frame counts (B,) -> (B, 2C): mean and max over valid frames."""
    t = torch.arange(features.shape[-1], device=features.device)
    valid = (t[None, :] < frames[:, None].clamp(min=1)).unsqueeze(1)  # (B, 1, T)
    mean = (features * valid).sum(-1) / valid.sum(-1).clamp(min=1)
    peak = features.masked_fill(~valid, torch.finfo(features.dtype).min).amax(-1)
    return torch.cat([mean, peak], dim=1)


class AudioCNNEncoder(nn.Module):
    """Log-mel -> 4 x (conv3x3-BN-ReLU, pool 2x2) -> mean over mel bins -> masked mean+max over time -> linear."""

    def __init__(self, sample_rate: int = 8000, embed_dim: int = 128, n_mels: int = 40, channels: tuple[int, ...] = (32, 64, 128, 128),
                 freq_mask: int = 0, time_mask: int = 0) -> None:
        super().__init__()
        self.frontend = LogMelFrontend(sample_rate, n_mels, freq_mask=freq_mask, time_mask=time_mask)
        self.input_norm = nn.BatchNorm2d(1)
        blocks, previous = [], 1
        for width in channels:
            blocks += [nn.Conv2d(previous, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True), nn.MaxPool2d(2, ceil_mode=True)]
            previous = width
        self.blocks = nn.Sequential(*blocks)
        self.out = nn.Linear(2 * previous, embed_dim)
        self.pool_factor = 2 ** len(channels)
        self.embed_dim = embed_dim

    def forward(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        waveform = inputs["waveform"]
        lengths = inputs.get("lengths", torch.full((waveform.shape[0],), waveform.shape[1], device=waveform.device))
        spec = self.frontend(waveform)  # (B, n_mels, T)
        x = self.blocks(self.input_norm(spec[:, None]))  # (B, C, F', T')
        frames = -(-self.frontend.frames(lengths.to(waveform.device)) // self.pool_factor)
        return self.out(masked_time_pool(x.mean(2), frames))  # (B, embed_dim)


class HFAudioEncoder(nn.Module):
    """A transformers waveform model (``input_values``), mean-pooled over valid frames.

    Waveforms are normalised per clip (zero mean, unit variance), as wav2vec2-style feature
    extractors do; they must already be at the model's sampling rate (16 kHz for most).
    """

    def __init__(self, model: nn.Module, embed_dim: int | None = None) -> None:
        super().__init__()
        self.model = model
        hidden = model.config.hidden_size
        self.proj = nn.Identity() if embed_dim in (None, hidden) else nn.Linear(hidden, embed_dim)
        self.embed_dim = embed_dim or hidden

    @classmethod
    def from_pretrained(cls, name_or_path: str, embed_dim: int | None = None) -> "HFAudioEncoder":
        from transformers import AutoModel

        try:
            model = AutoModel.from_pretrained(name_or_path)
        except OSError as err:
            raise FileNotFoundError(f"could not load an audio model from {name_or_path!r} (no weights offline?): {err}") from err
        if getattr(model, "main_input_name", "") != "input_values":
            raise ValueError(f"{name_or_path!r} does not take raw waveforms (main input {model.main_input_name!r})")
        return cls(model, embed_dim)

    def forward(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        waveform = inputs["waveform"].float()
        lengths = inputs.get("lengths", torch.full((waveform.shape[0],), waveform.shape[1], device=waveform.device)).to(waveform.device)
        mask = torch.arange(waveform.shape[1], device=waveform.device)[None, :] < lengths[:, None]
        count = mask.sum(1, keepdim=True).clamp(min=1)
        mean = (waveform * mask).sum(1, keepdim=True) / count
        var = (((waveform - mean) * mask) ** 2).sum(1, keepdim=True) / count
        normed = ((waveform - mean) / (var + 1e-7).sqrt()) * mask
        hidden = self.model(input_values=normed, attention_mask=mask.long()).last_hidden_state  # (B, T', H)
        frames = self.model._get_feat_extract_output_lengths(lengths).clamp(min=1, max=hidden.shape[1])
        valid = (torch.arange(hidden.shape[1], device=hidden.device)[None, :] < frames[:, None]).unsqueeze(-1)
        pooled = (hidden * valid).sum(1) / valid.sum(1).clamp(min=1)
        return self.proj(pooled)
