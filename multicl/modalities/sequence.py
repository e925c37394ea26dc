"""Sequences: sensor series ``(T, C)``, per-frame features ``(T, D)`` and decoded video ``(T, C, H, W)``.

Two ways to cut training clips:

* **instances** (``clip_length=None``): each series is one sample (a UEA/UCR classification
  set); a view is a random crop of ``crop_ratio`` of the series, the positive's crop starts
  ``jitter`` steps from the anchor's.
* **streams** (``clip_length`` set): long recordings are cut into anchor clips every ``stride``
  steps; the positive clip starts at the anchor's start +- delta, ``jitter[0] <= delta <= jitter[1]``
  (temporal jitter: a moment later the scene is the same).

Metadata for the false-negative policy: ``instance_id`` (the anchor clip), ``group_id`` (its
stream) and ``timestamp`` (its start, in steps). ``FalseNegativePolicy(same_group=True,
temporal_window=W)`` then drops every negative of the same stream whose clip starts within
+-W steps of the anchor's and keeps the far-apart ones; ``far_negative_distance`` adds one such
far clip of the same stream per anchor as an explicit hard negative. (Seconds -> steps:
:meth:`SequenceAdapter.steps`.) In-batch, queued and mined negatives all pass through that mask.

Encoder inputs: ``{"values": (B, T, C) float32 standardised and zero-padded, "lengths": (B,)}``
or ``{"frames": (B, T, C, H, W) float32 in [0, 1], "lengths": (B,)}``.
"""
from __future__ import annotations

import logging
from typing import Any, Sequence

import numpy as np
import torch

from multicl.data.series_files import fill_gaps
from multicl.modalities.base import Adapter
from multicl.types import HardNegative, TensorInputs, View
from multicl.views.series import SeriesViews

logger = logging.getLogger("multicl.modalities.sequence")


class SequenceAdapter(Adapter):
    """Args:
        series: (T_i, C) arrays (sensors / features) or (T_i, C, H, W) frames (uint8 or [0, 1]).
        clip_length: steps per clip in stream mode; ``None``: instance mode.
        stride: steps between anchor clips of a stream (stream mode).
        jitter: (min, max) steps between the anchor's and the positive's start.
        crop_ratio: instance mode: share of a series each view covers.
        views: a :class:`SeriesViews`.
        labels: per-series class ids (instance mode), exposed as metadata ``label``.
        far_negative_distance: add, per anchor, a clip of the same stream starting more than this
            many steps away as an explicit hard negative (``None``: off).
        sample_rate: steps per second (for :meth:`steps`); optional.
        encoder / embed_dim: what :meth:`build_encoder` returns (``tcn`` | ``transformer`` | ``frame_cnn``).

    NaN gaps are filled by linear interpolation (counted in ``filled_cells``, logged); a
    channel without any value, mismatched channel counts, and streams shorter than a clip are
    errors that name the series.
    """

    def __init__(self, series: Sequence[np.ndarray], clip_length: int | None = None, stride: int = 1,
                 jitter: tuple[int, int] = (0, 0), crop_ratio: float = 0.8, views: SeriesViews | None = None,
                 labels: Sequence[int] | None = None, far_negative_distance: int | None = None,
                 sample_rate: float | None = None, encoder: str = "tcn", embed_dim: int = 128) -> None:
        if len(series) == 0:
            raise ValueError("no series to train on")
        self.frames = np.asarray(series[0]).ndim == 4
        self.series, self.filled_cells = [], 0
        for i, s in enumerate(series):
            self.series.append(self._check(s, i))
        if not self.frames:
            channels = {s.shape[1] for s in self.series}
            if len(channels) > 1:
                first = self.series[0].shape[1]
                bad = next(i for i, s in enumerate(self.series) if s.shape[1] != first)
                raise ValueError(f"series {bad} has {self.series[bad].shape[1]} channels, series 0 has {first}: every series needs the same channels")
        if self.filled_cells:
            logger.warning("filled %d NaN cells by linear interpolation", self.filled_cells)
        if jitter[0] < 0 or jitter[1] < jitter[0]:
            raise ValueError(f"jitter must be (min, max) with 0 <= min <= max steps, got {jitter}")
        if not 0 < crop_ratio <= 1:
            raise ValueError(f"crop_ratio must be in (0, 1], got {crop_ratio}")
        if clip_length is not None:
            if clip_length < 2 or stride < 1:
                raise ValueError(f"clip_length must be >= 2 and stride >= 1, got {clip_length}, {stride}")
            short = [i for i, s in enumerate(self.series) if len(s) < clip_length]
            if short:
                raise ValueError(f"stream {short[0]} has {len(self.series[short[0]])} steps, shorter than clip_length={clip_length} "
                                 f"({len(short)} such streams): lower the clip length or drop those streams")
            self.samples = [(i, start) for i, s in enumerate(self.series) for start in clip_starts(len(s), clip_length, stride)]
        else:
            self.samples = [(i, 0) for i in range(len(self.series))]
        self.clip_length, self.stride, self.jitter, self.crop_ratio = clip_length, stride, tuple(jitter), crop_ratio
        self.views_config = views or SeriesViews()
        self.labels = None if labels is None else np.asarray(labels)
        if self.labels is not None and len(self.labels) != len(self.series):
            raise ValueError(f"labels need one value per series ({len(self.series)}), got {len(self.labels)}")
        self.far_negative_distance = far_negative_distance
        self.sample_rate, self.encoder_name, self.embed_dim = sample_rate, encoder, embed_dim
        if self.frames:
            self.center, self.scale = np.zeros(1, np.float32), np.ones(1, np.float32)
        else:
            steps = np.concatenate(self.series)
            self.center = steps.mean(0).astype(np.float32)
            self.scale = np.maximum(steps.std(0), 1e-6).astype(np.float32)  # constant channels stay finite

    def _check(self, s: np.ndarray, i: int) -> np.ndarray:
        s = np.asarray(s)
        if self.frames:
            if s.ndim != 4:
                raise ValueError(f"series {i}: expected frames (T, C, H, W) like series 0, got shape {s.shape}")
            return s
        if s.ndim == 1:
            s = s[:, None]
        if s.ndim != 2 or len(s) == 0:
            raise ValueError(f"series {i}: expected a non-empty (T, C) array, got shape {s.shape}")
        try:
            filled, count = fill_gaps(s)
        except ValueError as err:
            raise ValueError(f"series {i}: {err}") from None
        self.filled_cells += count
        return filled

    @property
    def channels(self) -> int:
        return self.series[0].shape[1]

    def steps(self, seconds: float) -> int:
        """Seconds -> steps at ``sample_rate`` (for windows and jitter given in seconds)."""
        if not self.sample_rate:
            raise ValueError("this adapter has no sample_rate: give the window in steps")
        return int(round(seconds * self.sample_rate))

    # -- clips and views -------------------------------------------------------------------------
    def _clip_length(self, stream: int) -> int:
        if self.clip_length is not None:
            return self.clip_length
        return max(2, min(len(self.series[stream]), int(round(self.crop_ratio * len(self.series[stream])))))

    def _positive_start(self, stream: int, start: int, length: int, rng: np.random.Generator) -> int:
        delta = int(rng.integers(self.jitter[0], self.jitter[1] + 1)) * (1 if rng.random() < 0.5 else -1)
        last = len(self.series[stream]) - length
        moved = start + delta
        if not 0 <= moved <= last:  # off the end: jitter the other way
            moved = start - delta
        return int(np.clip(moved, 0, last))

    def views(self, sample: tuple[int, int], rng: np.random.Generator) -> tuple[View, View]:
        stream, start = sample
        length = self._clip_length(stream)
        if self.clip_length is None:
            start = int(rng.integers(0, len(self.series[stream]) - length + 1))
        positive = self._positive_start(stream, start, length, rng)
        s = self.series[stream]
        # each view carries its own start: a jittered positive is not at the anchor's timestamp
        return (View(self._augment(s[start : start + length], rng), {"timestamp": start}),
                View(self._augment(s[positive : positive + length], rng), {"timestamp": positive}))

    def crop_view(self, sample: tuple[int, int], share: float, rng: np.random.Generator) -> View:
        """An augmented crop covering ``share`` of the sample's span (the whole series in
        instance mode, its clip in stream mode) at a random offset inside it: multi-crop's
        global and local crops. The view carries its own start as ``timestamp``."""
        if not 0 < share <= 1:
            raise ValueError(f"share must be in (0, 1], got {share}")
        stream, start = sample
        span = len(self.series[stream]) if self.clip_length is None else self.clip_length
        base = 0 if self.clip_length is None else start
        length = max(2, min(span, int(round(share * span))))
        offset = base + int(rng.integers(0, span - length + 1))
        return View(self._augment(self.series[stream][offset : offset + length], rng), {"timestamp": offset})

    def _augment(self, clip: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if self.frames:
            clip = to_unit_frames(clip)
        return self.views_config.apply(clip, rng, self.center, self.scale)

    def hard_negative(self, sample: tuple[int, int], rng: np.random.Generator) -> HardNegative | None:
        """A clip of the anchor's stream starting more than ``far_negative_distance`` steps away."""
        if self.far_negative_distance is None:
            return None
        stream, start = sample
        length = self._clip_length(stream)
        starts = np.arange(len(self.series[stream]) - length + 1)
        far = starts[np.abs(starts - start) > self.far_negative_distance]
        if len(far) == 0:
            return None
        other = int(rng.choice(far))
        clip = self._augment(self.series[stream][other : other + length], rng)
        return HardNegative(clip, {"group_id": stream, "timestamp": other})

    def meta(self, sample: tuple[int, int], index: int) -> dict[str, int]:
        stream, start = sample
        meta = {"instance_id": index, "group_id": stream, "timestamp": start}
        if self.labels is not None:
            meta["label"] = int(self.labels[stream])
        return meta

    def prepare_inputs(self, raw: Sequence[np.ndarray]) -> TensorInputs:
        """Clips of any lengths (raw units) -> standardised, zero-padded batch + ``lengths``."""
        if isinstance(raw, np.ndarray) and raw.ndim == (4 if self.frames else 2):
            raise TypeError("prepare_inputs takes a list of clips (or a stacked array of them); wrap a single series in a list")
        if len(raw) == 0:
            raise ValueError("prepare_inputs got no clips")
        lengths = [len(x) for x in raw]
        if min(lengths) == 0:
            raise ValueError("every clip needs at least one step")
        if self.frames:
            clips = [to_unit_frames(np.asarray(x)) for x in raw]
            shape = clips[0].shape[1:]
            if any(c.shape[1:] != shape for c in clips):
                raise ValueError(f"frame clips differ in (C, H, W): {sorted({c.shape[1:] for c in clips})}")
            batch = np.zeros((len(clips), max(lengths), *shape), dtype=np.float32)
            for i, c in enumerate(clips):
                batch[i, : len(c)] = c
            return TensorInputs({"frames": torch.from_numpy(batch), "lengths": torch.tensor(lengths, dtype=torch.long)})
        batch = np.zeros((len(raw), max(lengths), self.channels), dtype=np.float32)
        for i, x in enumerate(raw):
            x = np.asarray(x, dtype=np.float32)
            x = x[:, None] if x.ndim == 1 else x
            if x.ndim != 2 or x.shape[1] != self.channels:
                raise ValueError(f"clip {i}: expected (T, {self.channels}) like the training series, got shape {x.shape}")
            if not np.isfinite(x).all():
                x, _ = fill_gaps(x)
            batch[i, : len(x)] = (x - self.center) / self.scale
        return TensorInputs({"values": torch.from_numpy(batch), "lengths": torch.tensor(lengths, dtype=torch.long)})

    @staticmethod
    def length_of(clip: np.ndarray) -> int:
        return len(clip)

    def mining_corpus(self, samples: Sequence[tuple[int, int]]) -> list[np.ndarray]:
        """The clean anchor clips (whole series in instance mode) for the hard-negative miner."""
        if self.clip_length is None:
            return [self.series[stream] for stream, _ in samples]
        return [self.series[stream][start : start + self.clip_length] for stream, start in samples]

    def build_encoder(self) -> torch.nn.Module:
        from multicl.encoders.sequence import build_sequence_encoder

        in_channels = self.series[0].shape[1]
        return build_sequence_encoder(self.encoder_name, in_channels, self.embed_dim)


def clip_starts(length: int, clip_length: int, stride: int) -> list[int]:
    """Starts of the clips of a stream: every ``stride`` steps while a whole clip fits."""
    return list(range(0, length - clip_length + 1, stride))


def to_unit_frames(frames: np.ndarray) -> np.ndarray:
    """uint8 frames -> float32 in [0, 1]; float frames are kept as they are."""
    if frames.dtype == np.uint8:
        return frames.astype(np.float32) / 255.0
    return frames.astype(np.float32, copy=False)
