"""Decode a video file into frames ``(T, C, H, W)`` uint8 for :class:`~multicl.modalities.sequence.SequenceAdapter`.

Decoding goes through torchcodec (preferred; torchvision's own video reader is deprecated) or
torchvision, whichever is installed; neither is a dependency of multicl. Frames can also be
decoded elsewhere and passed as arrays, or replaced by per-frame features ``(T, D)``.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np


def available_video_backends() -> list[str]:
    return [name for name in ("torchcodec", "torchvision") if importlib.util.find_spec(name) is not None]


def read_video_frames(path: str | Path, max_frames: int | None = None, every: int = 1) -> np.ndarray:
    """Frames of ``path`` as uint8 ``(T, C, H, W)``, keeping every ``every``-th frame up to ``max_frames``."""
    path = Path(path)
    backends = available_video_backends()
    if not backends:
        raise ImportError("decoding video needs torchcodec (pip install torchcodec, matching your torch) or torchvision; "
                          "or decode the frames yourself and pass (T, C, H, W) arrays")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such video file")
    if backends[0] == "torchcodec":
        from torchcodec.decoders import VideoDecoder

        decoder = VideoDecoder(str(path))
        stop = len(decoder) if max_frames is None else min(len(decoder), max_frames * every)
        frames = decoder.get_frames_in_range(0, stop, every).data  # (T, C, H, W) uint8
    else:
        from torchvision.io import read_video

        frames = read_video(str(path), pts_unit="sec", output_format="TCHW")[0][::every]
        frames = frames if max_frames is None else frames[:max_frames]
    if len(frames) == 0:
        raise ValueError(f"{path}: no frames decoded")
    return frames.numpy()
