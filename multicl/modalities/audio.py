"""Audio: waveform views (speed, crop, shift, gain, noise at an SNR, mixing), padding with lengths.

Samples are clip indices into the adapter's waveforms (mono float32 at ``sample_rate``).
Waveform views run in the data loader (numpy); SpecAugment lives in the encoder's log-mel
frontend, so it runs on the GPU and only in training mode. Encoder inputs:
``{"waveform": (B, L) float32 right-padded with zeros, "lengths": (B,) valid samples}``.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch

from multicl.modalities.base import Adapter
from multicl.modalities.batching import encode_in_length_order
from multicl.types import TensorInputs

ENCODERS = ("cnn",)


@dataclass(frozen=True)
class WaveViews:
    """Which waveform views run, and how strong. ``None`` / 0 turns one off.

    speed: resample by a factor drawn uniformly from this range (0.9: 10% slower and lower; pitch
        and tempo change together, like speed perturbation in ASR): positives then differ in
        speaker-like properties, so the encoder learns to ignore them;
    crop_seconds: random window of this length (shorter clips are placed at a random offset in
        it: a random time shift); shift_seconds: extra circular shift; gain_db: uniform gain
        range; snr_db: white noise at a uniform SNR in this range; mix_prob / mix_snr_db: add
        another training clip at this SNR (a background talker / mixing view).
    """

    speed: tuple[float, float] | None = None
    crop_seconds: float | None = 1.0
    shift_seconds: float = 0.1
    gain_db: tuple[float, float] | None = (-6.0, 6.0)
    snr_db: tuple[float, float] | None = (10.0, 30.0)
    mix_prob: float = 0.0
    mix_snr_db: tuple[float, float] = (10.0, 20.0)


def _stable_id(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little") >> 1


class AudioAdapter(Adapter):
    """Args:
        waveforms: mono float32 clips at ``sample_rate``.
        views: a :class:`WaveViews`.
        labels / speakers: optional per-clip class labels and speaker (or session) names.
        group_by: ``recording`` (each clip its own group) or ``speaker`` (clips of one speaker
            are never each other's negatives).
        positive: ``view`` (two views of one clip) or ``same_label``.
        specaugment: ``(freq_mask, time_mask)`` widths for the encoder's frontend ((0, 0): off).
        cmvn / mel_warp: the encoder frontend's per-utterance normalisation and training-time
            mel-axis warp (see :class:`multicl.encoders.audio.LogMelFrontend`).
    """

    def __init__(self, waveforms: Sequence[np.ndarray], sample_rate: int, views: WaveViews | None = None,
                 labels: Sequence[int] | None = None, speakers: Sequence[str] | None = None, group_by: str = "recording",
                 positive: str = "view", specaugment: tuple[int, int] = (8, 10), embed_dim: int = 128, n_mels: int = 40,
                 cmvn: str = "none", mel_warp: float = 0.0) -> None:
        if len(waveforms) == 0:
            raise ValueError("no audio clips to train on")
        if group_by not in ("recording", "speaker"):
            raise ValueError(f"group_by must be 'recording' or 'speaker', got {group_by!r}")
        if group_by == "speaker" and speakers is None:
            raise ValueError("group_by='speaker' needs speakers")
        if positive not in ("view", "same_label"):
            raise ValueError(f"positive must be 'view' or 'same_label', got {positive!r}")
        if positive == "same_label" and labels is None:
            raise ValueError("positive='same_label' needs labels")
        self.waveforms = [np.asarray(w, dtype=np.float32) for w in waveforms]
        for i, w in enumerate(self.waveforms):
            if w.ndim != 1 or len(w) == 0 or not np.isfinite(w).all():
                raise ValueError(f"clip {i}: expected a non-empty finite mono waveform, got shape {w.shape}")
        self.sample_rate = sample_rate
        self.wave_views = views or WaveViews()
        self.labels = None if labels is None else np.asarray(labels)
        self.speakers = None if speakers is None else list(speakers)
        self.group_by, self.positive = group_by, positive
        self.specaugment, self.embed_dim, self.n_mels = specaugment, embed_dim, n_mels
        self.cmvn, self.mel_warp = cmvn, mel_warp
        self._rows_of_label = {} if self.labels is None else {v: np.flatnonzero(self.labels == v) for v in np.unique(self.labels)}

    # -- views -----------------------------------------------------------------------------------
    def _view(self, index: int, rng: np.random.Generator, share: float = 1.0) -> np.ndarray:
        v = self.wave_views
        wave = self.waveforms[index]
        if v.speed:
            wave = change_speed(wave, rng.uniform(*v.speed))
        if share < 1.0 and not v.crop_seconds:  # a share of the clip itself
            length = max(1, int(round(share * len(wave))))
            start = int(rng.integers(0, len(wave) - length + 1))
            wave = wave[start : start + length]
        if v.crop_seconds:
            length = max(1, int(share * v.crop_seconds * self.sample_rate))
            if len(wave) >= length:
                start = int(rng.integers(0, len(wave) - length + 1))
                wave = wave[start : start + length].copy()
            else:
                out = np.zeros(length, dtype=np.float32)
                start = int(rng.integers(0, length - len(wave) + 1))
                out[start : start + len(wave)] = wave
                wave = out
        else:
            wave = wave.copy()
        if v.shift_seconds:
            wave = np.roll(wave, int(rng.integers(-1, 2) * rng.random() * v.shift_seconds * self.sample_rate))
        if v.gain_db:
            wave = wave * np.float32(10 ** (rng.uniform(*v.gain_db) / 20))
        if v.mix_prob and rng.random() < v.mix_prob:
            other = self.waveforms[int(rng.integers(len(self.waveforms)))]
            other = np.resize(other, len(wave))
            wave = wave + other * _scale_for_snr(wave, other, rng.uniform(*v.mix_snr_db))
        if v.snr_db:
            noise = rng.standard_normal(len(wave)).astype(np.float32)
            wave = wave + noise * _scale_for_snr(wave, noise, rng.uniform(*v.snr_db))
        return wave.astype(np.float32)

    def views(self, sample: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        index = int(sample)
        partner = int(rng.choice(self._rows_of_label[self.labels[index]])) if self.positive == "same_label" else index
        return self._view(index, rng), self._view(partner, rng)

    def crop_view(self, sample: int, share: float, rng: np.random.Generator) -> np.ndarray:
        """A view whose crop window is ``share`` of ``crop_seconds`` (of the clip without a
        crop window): multi-crop's global (large share) and local (small share) crops."""
        if not 0 < share <= 1:
            raise ValueError(f"share must be in (0, 1], got {share}")
        return self._view(int(sample), rng, share)

    def meta(self, sample: int, index: int) -> dict[str, int]:
        i = int(sample)
        group = _stable_id(self.speakers[i]) if self.group_by == "speaker" else i
        meta = {"instance_id": i, "group_id": group}
        if self.labels is not None:
            meta["label"] = int(self.labels[i])
        return meta

    def prepare_inputs(self, raw: Sequence[np.ndarray]) -> TensorInputs:
        """Waveforms of any lengths -> zero-padded batch + lengths (for masked pooling)."""
        if isinstance(raw, np.ndarray) and raw.ndim == 1:
            raise TypeError("prepare_inputs takes a list of waveforms; wrap a single clip in a list")
        lengths = [len(w) for w in raw]
        if not lengths or min(lengths) == 0:
            raise ValueError("every waveform must have at least one sample")
        batch = np.zeros((len(raw), max(lengths)), dtype=np.float32)
        for i, w in enumerate(raw):
            batch[i, : len(w)] = w
        return TensorInputs({"waveform": torch.from_numpy(batch), "lengths": torch.tensor(lengths, dtype=torch.long)})

    @staticmethod
    def length_of(waveform: np.ndarray) -> int:
        return len(waveform)

    def mining_corpus(self, samples: Sequence[int]) -> list[np.ndarray]:
        """The whole clips, unaugmented, one per training sample."""
        return [self.waveforms[int(s)] for s in samples]

    def build_encoder(self) -> torch.nn.Module:
        from multicl.encoders.audio import AudioCNNEncoder

        freq, time = self.specaugment
        return AudioCNNEncoder(self.sample_rate, self.embed_dim, self.n_mels, freq_mask=freq, time_mask=time, cmvn=self.cmvn,
                               mel_warp=self.mel_warp)


def change_speed(wave: np.ndarray, factor: float) -> np.ndarray:
    """Play ``wave`` ``factor`` times faster (length / factor, pitch x factor) by linear interpolation."""
    out_len = max(1, int(round(len(wave) / factor)))
    return np.interp(np.arange(out_len) * factor, np.arange(len(wave)), wave).astype(np.float32)


def _scale_for_snr(signal: np.ndarray, noise: np.ndarray, snr_db: float) -> np.float32:
    p_signal = float(np.mean(signal**2)) + 1e-12
    p_noise = float(np.mean(noise**2)) + 1e-12
    return np.float32(np.sqrt(p_signal / (p_noise * 10 ** (snr_db / 10))))


def encode_waveforms(encoder: torch.nn.Module, adapter: AudioAdapter, waveforms: Sequence[np.ndarray], batch_size: int = 128,
                     device: str | torch.device = "cpu") -> np.ndarray:
    """Embed whole clips (no views, eval mode, no gradient), sorted by length to limit padding."""
    return encode_in_length_order(encoder, adapter.prepare_inputs, list(waveforms), len, batch_size, device)
