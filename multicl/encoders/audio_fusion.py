"""An audio CNN's embedding joined with the clip's own log-mel statistics.

Per-band log-mel mean and std are the classic fixed audio features, and on speakers seen in
training they beat a speaker-invariant self-supervised CNN (docs/audio.md). The fused embedding
keeps both: ``[unit(cnn(x)), weight * unit((stats(x) - mu) / sigma)]`` with ``mu`` / ``sigma``
fitted on the training clips. Its cosine similarity is ``(cos_cnn + weight^2 cos_stats) /
(1 + weight^2)`` after unit-normalisation, so ``weight`` sets how much the statistics count.
With ``whiten_power`` > 0 the joined vector is then whitened, ``(v - m) @ W`` with ``W`` = ``C^-power`` of a
Ledoit-Wolf covariance of the training clips' vectors (0.25: half whitening, chosen on the nested dev stage,
``benchmarks/results/audio_whitening``): the few correlated directions that dominated the cosine are flattened.
Inputs as every audio encoder: ``{"waveform": (B, L), "lengths": (B,)}``; padding never changes
the statistics (they are taken over each clip's own frames).
"""
from __future__ import annotations

from typing import Any, Iterable

import torch
from torch import nn

from multicl.encoders.audio import AudioCNNEncoder, LogMelFrontend


def masked_band_statistics(spec: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
    """(B, n_mels, T) log-mel, valid frame counts (B,) -> (B, 2 n_mels): per-band mean and
    sample std (ddof=1, as ``torch.std``) over each row's valid frames."""
    t = torch.arange(spec.shape[-1], device=spec.device)
    valid = (t[None, :] < frames[:, None].clamp(min=1)).unsqueeze(1).to(spec.dtype)  # (B, 1, T)
    count = valid.sum(-1)  # (B, 1)
    mean = (spec * valid).sum(-1) / count
    var = (((spec - mean[..., None]) * valid) ** 2).sum(-1) / (count - 1).clamp(min=1)
    return torch.cat([mean, var.sqrt()], dim=1)


class AudioStatsFusionEncoder(nn.Module):
    """``cnn``: the :class:`AudioCNNEncoder` constructor arguments (its weights come with the state
    dict); ``stats_cmvn``: the statistics' own per-utterance normalisation (``none``: per-band mean
    and std of the raw log-mel; ``mean``: means removed first, so the mean half is 0); ``weight``:
    the statistics block's scale; ``whiten_power``: 0 (none; models saved before it load so) or the power of the
    whitening (0.25 half, 0.5 full). ``embed_dim`` = the CNN's + 2 n_mels. :meth:`fit_statistics` sets ``mu`` /
    ``sigma`` and then the whitening from training clips; build one around a trained CNN with :meth:`wrap`."""

    def __init__(self, cnn: dict[str, Any], stats_cmvn: str = "none", weight: float = 1.0, whiten_power: float = 0.0) -> None:
        super().__init__()
        if weight <= 0:
            raise ValueError(f"weight must be positive (the statistics block's scale), got {weight}")
        if not 0 <= whiten_power <= 0.5:
            raise ValueError(f"whiten_power must be in [0, 0.5] (0: none, 0.25: half, 0.5: full whitening), got {whiten_power}")
        self.arguments = {"cnn": dict(cnn), "stats_cmvn": stats_cmvn, "weight": float(weight)}
        if whiten_power > 0:  # only then an argument and buffers: models saved before load unchanged
            self.arguments["whiten_power"] = float(whiten_power)
        self.cnn = AudioCNNEncoder(**{k: tuple(v) if k == "channels" else v for k, v in cnn.items()})
        f = self.cnn.frontend
        # no SpecAugment, no warp: the same spectrogram in train and eval mode
        self.stats_frontend = LogMelFrontend(int(f.mel.sample_rate), f.n_mels, cmvn=stats_cmvn)
        self.register_buffer("stats_mean", torch.zeros(2 * f.n_mels))
        self.register_buffer("stats_std", torch.ones(2 * f.n_mels))
        self.weight = float(weight)
        self.whiten_power = float(whiten_power)
        self.embed_dim = self.cnn.embed_dim + 2 * f.n_mels
        if whiten_power > 0:
            self.register_buffer("white_mean", torch.zeros(self.embed_dim))
            self.register_buffer("white_matrix", torch.eye(self.embed_dim))

    @classmethod
    def wrap(cls, cnn: AudioCNNEncoder, stats_cmvn: str = "none", weight: float = 1.0,
             whiten_power: float = 0.0) -> "AudioStatsFusionEncoder":
        """A fusion encoder holding a copy of the trained ``cnn``'s weights (statistics not yet fitted)."""
        fused = cls(cnn.constructor_arguments(), stats_cmvn, weight, whiten_power)
        fused.cnn.load_state_dict(cnn.state_dict())
        return fused.to(next(cnn.parameters()).device)

    def statistics(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        """The clips' raw (unscaled) log-mel statistics (B, 2 n_mels)."""
        waveform = inputs["waveform"]
        lengths = inputs.get("lengths", torch.full((waveform.shape[0],), waveform.shape[1], device=waveform.device)).to(waveform.device)
        with torch.autocast(waveform.device.type, enabled=False):
            return masked_band_statistics(self.stats_frontend(waveform.float(), lengths), self.stats_frontend.frames(lengths))

    @torch.no_grad()
    def fit_statistics(self, batches: Iterable[dict[str, torch.Tensor]]) -> "AudioStatsFusionEncoder":
        """Fit ``mu`` / ``sigma`` (per coordinate, population std) on batches of training clips, then (``whiten_power``
        > 0) the whitening on the same clips' joined vectors."""
        batches = list(batches)
        per_batch = [self.statistics(b) for b in batches]  # computed once, reused by the whitening below
        stats = torch.cat(per_batch)
        if len(stats) < 2:
            raise ValueError(f"fit_statistics needs at least 2 clips, got {len(stats)}")
        self.stats_mean.copy_(stats.mean(0))
        self.stats_std.copy_(stats.std(0, unbiased=False).clamp(min=1e-6))
        if self.whiten_power > 0:
            from multicl.utils.whitening import fit_whitening

            joined = torch.cat([self._join(self.cnn(b), st) for b, st in zip(batches, per_batch)]).double().cpu().numpy()
            w = fit_whitening(joined, power=self.whiten_power)
            self.white_mean.copy_(torch.as_tensor(w.mean, dtype=torch.float32))
            self.white_matrix.copy_(torch.as_tensor(w.matrix, dtype=torch.float32))
        return self

    def joined(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        """``[unit(cnn(x)), weight * unit(z(stats(x)))]``, before any whitening."""
        return self._join(self.cnn(inputs), self.statistics(inputs))

    def _join(self, cnn_out: torch.Tensor, stats: torch.Tensor) -> torch.Tensor:
        learned = nn.functional.normalize(cnn_out.float(), dim=-1)
        scaled = (stats - self.stats_mean) / self.stats_std
        return torch.cat([learned, self.weight * nn.functional.normalize(scaled, dim=-1)], dim=-1)

    def forward(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        v = self.joined(inputs)
        return (v - self.white_mean) @ self.white_matrix if self.whiten_power > 0 else v
