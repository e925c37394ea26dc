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
    """Waveforms (B, L) [+ valid sample counts (B,)] -> log-mel (B, n_mels, T).

    cmvn: ``none`` | ``mean`` | ``meanvar``: per-utterance normalisation of each mel band over
        the clip's valid frames (padding frames are set to 0 afterwards); removes the channel and
        much of a speaker's fixed spectral tilt, which a kNN on an unseen speaker trips over.
    mel_warp: training only: each row's mel axis is stretched by a factor drawn uniformly from
        [1 - mel_warp, 1 + mel_warp] (a vocal-tract-length perturbation: formants move up or down).
    """

    def __init__(self, sample_rate: int = 8000, n_mels: int = 40, win_ms: float = 25.0, hop_ms: float = 10.0,
                 freq_mask: int = 0, time_mask: int = 0, num_masks: int = 2, cmvn: str = "none", mel_warp: float = 0.0) -> None:
        super().__init__()
        if cmvn not in ("none", "mean", "meanvar"):
            raise ValueError(f"cmvn must be 'none', 'mean' or 'meanvar', got {cmvn!r}")
        if not 0.0 <= mel_warp < 1.0:
            raise ValueError(f"mel_warp must be in [0, 1), got {mel_warp}")
        n_fft = 1
        while n_fft < sample_rate * win_ms / 1000:
            n_fft *= 2
        self.hop, self.n_fft = int(sample_rate * hop_ms / 1000), n_fft
        self.mel = torchaudio.transforms.MelSpectrogram(sample_rate, n_fft=n_fft, win_length=int(sample_rate * win_ms / 1000),
                                                        hop_length=self.hop, n_mels=n_mels, center=True, pad_mode="constant")
        self.freq_masks = nn.ModuleList(torchaudio.transforms.FrequencyMasking(freq_mask, iid_masks=True) for _ in range(num_masks if freq_mask else 0))
        self.time_masks = nn.ModuleList(torchaudio.transforms.TimeMasking(time_mask, iid_masks=True) for _ in range(num_masks if time_mask else 0))
        self.n_mels, self.cmvn, self.mel_warp = n_mels, cmvn, mel_warp

    def frames(self, lengths: torch.Tensor) -> torch.Tensor:
        # center=True pads half a window of zeros on each side (pad_mode "constant": a clip alone
        # sees the same zeros past its end as a clip padded in a batch)
        return lengths // self.hop + 1

    def forward(self, waveform: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        with torch.autocast(waveform.device.type, enabled=False):  # the STFT wants fp32
            spec = torch.log(self.mel(waveform.float()) + 1e-6)  # (B, n_mels, T)
            if self.cmvn != "none":
                spec = self.normalise(spec, lengths)
        if self.training and self.mel_warp:
            spec = warp_mel_axis(spec, 1 + (2 * torch.rand(spec.shape[0], device=spec.device) - 1) * self.mel_warp)
        if self.training:
            x = spec[:, None]  # iid masks need (B, C, F, T)
            for mask in [*self.freq_masks, *self.time_masks]:
                x = mask(x, mask_value=float(spec.mean()))
            spec = x[:, 0]
        return spec

    def normalise(self, spec: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
        """Per-utterance, per-band mean (and variance) normalisation; padding frames -> 0.

        The statistics skip the last frames, whose windows reach past the clip's end (into batch
        padding, or torch's reflection when alone), so a clip gets the same ones either way."""
        steps, t = spec.shape[-1], torch.arange(spec.shape[-1], device=spec.device)[None, :]
        if lengths is None:
            lengths = torch.full(spec.shape[:1], (steps - 1) * self.hop, device=spec.device)
        lengths = lengths.to(spec.device)
        valid = (t < self.frames(lengths)[:, None]).unsqueeze(1)  # (B, 1, T)
        inside = (t < ((lengths - self.n_fft // 2) // self.hop + 1).clamp(min=1)[:, None]).unsqueeze(1)
        count = inside.sum(-1, keepdim=True)
        spec = spec - (spec * inside).sum(-1, keepdim=True) / count
        if self.cmvn == "meanvar":
            std = ((spec * inside) ** 2).sum(-1, keepdim=True).div(count).sqrt()
            spec = spec / (std + 1e-3)  # the floor keeps a flat band (digital silence) flat
        return spec * valid


def warp_mel_axis(spec: torch.Tensor, factors: torch.Tensor) -> torch.Tensor:
    """(B, F, T) spectrograms, (B,) factors -> row b read at mel bin f / factors[b] (linear
    interpolation, edges clamped): a factor above 1 moves energy to higher bins (shorter vocal tract)."""
    bins = spec.shape[1]
    pos = (torch.arange(bins, device=spec.device, dtype=spec.dtype)[None, :] / factors[:, None].to(spec.dtype)).clamp(0, bins - 1)
    lo = pos.floor().long()
    hi = (lo + 1).clamp(max=bins - 1)
    w = (pos - lo.to(spec.dtype)).unsqueeze(-1)

    def take(idx: torch.Tensor) -> torch.Tensor:
        return spec.gather(1, idx.unsqueeze(-1).expand(-1, -1, spec.shape[-1]))

    return take(lo) * (1 - w) + take(hi) * w


def masked_time_pool(features: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
    """(B, C, T) features, valid frame counts (B,) -> (B, 2C): mean and max over valid frames."""
    t = torch.arange(features.shape[-1], device=features.device)
    valid = (t[None, :] < frames[:, None].clamp(min=1)).unsqueeze(1)  # (B, 1, T)
    mean = (features * valid).sum(-1) / valid.sum(-1).clamp(min=1)
    peak = features.masked_fill(~valid, torch.finfo(features.dtype).min).amax(-1)
    return torch.cat([mean, peak], dim=1)


def _zero_past(x: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
    """(B, C, F, T) with valid frame counts (B,) -> frames past each row's count set to 0."""
    valid = torch.arange(x.shape[-1], device=x.device)[None, :] < frames[:, None]
    return x * valid[:, None, None, :].to(x.dtype)


class AudioCNNEncoder(nn.Module):
    """Log-mel -> 4 x (conv3x3-BN-ReLU, pool 2x2) -> mean over mel bins -> masked mean+max over time -> linear.

    Padding-invariant: frames past a clip's end are zeroed after the input norm and after every
    block's ReLU (zero is also the conv's own border padding, and ReLU outputs are >= 0, so a
    max-pool window half in the padding gives what the clip alone gives), so a clip embeds the
    same alone or beside longer clips (eval mode)."""

    def __init__(self, sample_rate: int = 8000, embed_dim: int = 128, n_mels: int = 40, channels: tuple[int, ...] = (32, 64, 128, 128),
                 freq_mask: int = 0, time_mask: int = 0, cmvn: str = "none", mel_warp: float = 0.0) -> None:
        super().__init__()
        self.frontend = LogMelFrontend(sample_rate, n_mels, freq_mask=freq_mask, time_mask=time_mask, cmvn=cmvn, mel_warp=mel_warp)
        self.input_norm = nn.BatchNorm2d(1)
        blocks, previous = [], 1
        for width in channels:
            blocks.append(nn.Sequential(nn.Conv2d(previous, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True)))
            previous = width
        self.blocks = nn.ModuleList(blocks)
        self.pool = nn.MaxPool2d(2, ceil_mode=True)
        self.out = nn.Linear(2 * previous, embed_dim)
        self.embed_dim = embed_dim

    def constructor_arguments(self) -> dict:
        """The arguments that rebuild this module (read back from its structure; the saved-model format stores them)."""
        f = self.frontend
        return {"sample_rate": int(f.mel.sample_rate), "embed_dim": self.embed_dim, "n_mels": f.n_mels,
                "channels": [block[0].out_channels for block in self.blocks],
                "freq_mask": int(f.freq_masks[0].mask_param) if len(f.freq_masks) else 0,
                "time_mask": int(f.time_masks[0].mask_param) if len(f.time_masks) else 0, "cmvn": f.cmvn, "mel_warp": float(f.mel_warp)}

    def forward(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        waveform = inputs["waveform"]
        lengths = inputs.get("lengths", torch.full((waveform.shape[0],), waveform.shape[1], device=waveform.device))
        spec = self.frontend(waveform, lengths)  # (B, n_mels, T)
        frames = self.frontend.frames(lengths.to(waveform.device))
        x = _zero_past(self.input_norm(spec[:, None]), frames)  # (B, 1, F, T)
        for block in self.blocks:
            x = self.pool(_zero_past(block(x), frames))
            frames = -(-frames // 2)
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
