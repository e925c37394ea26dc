"""Augmentations of sensor clips ``(T, C)`` and frame clips ``(T, C, H, W)`` (numpy, data loader side).

Sensor views follow Um et al. 2017 ("Data augmentation of wearable sensor data") and TS-TCC /
TS2Vec practice: jitter (additive noise), per-channel scaling, magnitude warping (a smooth random
gain curve), time warping (a smooth random speed curve), channel dropout and segment permutation.
Noise is in units of each channel's spread (``scale``) so one setting fits accelerometers in g and
in milli-g alike. Frame views: pixel noise, brightness/contrast and a horizontal flip per clip
(the temporal jitter of a video clip comes from the adapter's clip sampling).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SeriesViews:
    """Strength of each view; 0 turns one off.

    jitter_std: Gaussian noise (x channel spread); scale_std: per-channel gain ~ N(1, s);
    magnitude_warp_std / time_warp_std: spread of the smooth random curves (``knots`` control
    points); channel_dropout: probability that a channel is replaced by its mean; max_segments:
    cut into 2..max_segments pieces and shuffle them (0/1: off; destroys global order, so keep it
    off where order carries the class). frame_noise_std / frame_brightness / frame_flip: for
    frame clips.
    """

    jitter_std: float = 0.05
    scale_std: float = 0.1
    magnitude_warp_std: float = 0.1
    time_warp_std: float = 0.1
    knots: int = 4
    channel_dropout: float = 0.0
    max_segments: int = 0
    frame_noise_std: float = 0.05
    frame_brightness: float = 0.2
    frame_flip: bool = True

    def apply(self, clip: np.ndarray, rng: np.random.Generator, center: np.ndarray, scale: np.ndarray) -> np.ndarray:
        """One augmented copy of ``clip``; ``center`` / ``scale``: per-channel mean and spread."""
        if clip.ndim == 4:
            return self._frames(clip, rng)
        x = clip.astype(np.float32, copy=True)
        if self.time_warp_std:
            x = time_warp(x, rng, self.time_warp_std, self.knots)
        if self.max_segments > 1:
            x = permute_segments(x, rng, self.max_segments)
        if self.magnitude_warp_std:
            x = center + (x - center) * smooth_curve(len(x), x.shape[1], rng, self.magnitude_warp_std, self.knots)
        if self.scale_std:
            x = center + (x - center) * rng.normal(1.0, self.scale_std, size=(1, x.shape[1])).astype(np.float32)
        if self.channel_dropout:
            dropped = rng.random(x.shape[1]) < self.channel_dropout
            if dropped.all():  # keep at least one channel
                dropped[rng.integers(x.shape[1])] = False
            x[:, dropped] = center[dropped]
        if self.jitter_std:
            x = x + rng.standard_normal(x.shape).astype(np.float32) * (self.jitter_std * scale)
        return x.astype(np.float32)

    def _frames(self, frames: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        x = frames.astype(np.float32, copy=True)  # (T, C, H, W), values in [0, 1]
        if self.frame_brightness:
            x = x * rng.uniform(1 - self.frame_brightness, 1 + self.frame_brightness) + rng.uniform(-self.frame_brightness, self.frame_brightness) / 2
        if self.frame_flip and rng.random() < 0.5:
            x = x[..., ::-1]
        if self.frame_noise_std:
            x = x + rng.standard_normal(x.shape).astype(np.float32) * self.frame_noise_std
        return np.ascontiguousarray(x, dtype=np.float32)


def smooth_curve(length: int, channels: int, rng: np.random.Generator, std: float, knots: int) -> np.ndarray:
    """(length, channels) random curves around 1, linear between ``knots + 2`` control points."""
    anchors = np.linspace(0, length - 1, knots + 2)
    values = rng.normal(1.0, std, size=(knots + 2, channels))
    t = np.arange(length)
    return np.stack([np.interp(t, anchors, values[:, c]) for c in range(channels)], axis=1).astype(np.float32)


def time_warp(x: np.ndarray, rng: np.random.Generator, std: float, knots: int) -> np.ndarray:
    """Resample ``x`` along a smooth random clock: same length, locally faster or slower."""
    length = len(x)
    if length < 3:
        return x
    speed = np.clip(smooth_curve(length, 1, rng, std, knots)[:, 0], 0.1, None)
    clock = np.cumsum(speed)
    clock = (clock - clock[0]) / (clock[-1] - clock[0]) * (length - 1)  # warped time of each output step
    t = np.arange(length)
    return np.stack([np.interp(clock, t, x[:, c]) for c in range(x.shape[1])], axis=1).astype(np.float32)


def permute_segments(x: np.ndarray, rng: np.random.Generator, max_segments: int) -> np.ndarray:
    """Cut into 2..max_segments contiguous pieces at random points and shuffle them."""
    pieces = int(rng.integers(2, max_segments + 1))
    if len(x) < pieces:
        return x
    cuts = np.sort(rng.choice(np.arange(1, len(x)), size=pieces - 1, replace=False))
    segments = np.split(x, cuts)
    return np.concatenate([segments[i] for i in rng.permutation(len(segments))])
