"""Audio clips from a folder of ``{label}_{speaker}_{take}.wav`` files or a CSV of ``path,label[,group]``.

Loading goes through soundfile (torchaudio's own loader now needs torchcodec). Every clip is
mixed down to mono, resampled to ``sample_rate`` with ``torchaudio.functional.resample`` and
returned as float32 in [-1, 1].

Bad files follow one documented policy: a file soundfile cannot decode (truncated, not audio),
a zero-length clip, or one with NaN/inf samples is skipped with a warning, and counted in
``AudioClips.skipped`` (reason -> file names); a folder where nothing loads is an error.
"""
from __future__ import annotations

import csv
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg")
FSDD_NAME = re.compile(r"^(?P<label>[^_]+)_(?P<speaker>[^_]+)_(?P<take>\d+)$")


@dataclass
class AudioClips:
    """Waveforms (float32, mono, ``sample_rate``) with their label, speaker/group and take."""

    waveforms: list[np.ndarray]
    labels: list[str]
    groups: list[str]
    takes: list[int]
    paths: list[str]
    sample_rate: int
    skipped: dict[str, list[str]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.waveforms)

    def subset(self, keep) -> "AudioClips":
        keep = [i for i in range(len(self)) if keep(i)]
        return AudioClips([self.waveforms[i] for i in keep], [self.labels[i] for i in keep], [self.groups[i] for i in keep],
                          [self.takes[i] for i in keep], [self.paths[i] for i in keep], self.sample_rate, dict(self.skipped))


def load_waveform(path: str | Path, sample_rate: int) -> np.ndarray:
    """One file -> mono float32 at ``sample_rate``. Raises ``ValueError`` naming the problem."""
    import soundfile as sf
    import torch
    import torchaudio.functional as AF

    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)  # (frames, channels)
    except (sf.LibsndfileError, RuntimeError, TypeError) as err:
        raise ValueError(f"{path}: not a readable audio file ({err})") from None
    if data.shape[0] == 0:
        raise ValueError(f"{path}: zero-length audio")
    if not np.isfinite(data).all():
        raise ValueError(f"{path}: NaN or inf samples")
    mono = data.mean(axis=1)  # stereo -> mono mix-down
    if rate != sample_rate:
        mono = AF.resample(torch.from_numpy(mono), rate, sample_rate).numpy()
    return np.ascontiguousarray(mono, dtype=np.float32)


def read_clips(source: str | Path, sample_rate: int = 8000) -> AudioClips:
    """A folder (FSDD naming ``{label}_{speaker}_{take}``; other names get label = parent folder)
    or a CSV with columns ``path,label[,group]`` (relative paths resolve against the CSV)."""
    source = Path(source)
    entries: list[tuple[Path, str, str, int]] = []
    if source.is_dir():
        files = sorted(p for p in source.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES)
        for p in files:
            match = FSDD_NAME.match(p.stem)
            if match:
                entries.append((p, match["label"], match["speaker"], int(match["take"])))
            else:
                entries.append((p, p.parent.name, p.parent.name, 0))
    elif source.suffix.lower() == ".csv":
        with open(source, newline="", encoding="utf-8") as f:
            rows = [r for r in csv.reader(f) if r]
        if rows and rows[0][0].strip().lower() == "path":
            rows = rows[1:]
        for line, row in enumerate(rows, start=2):
            if len(row) < 2:
                raise ValueError(f"{source} line {line}: expected path,label[,group], got {row}")
            path = Path(row[0]) if Path(row[0]).is_absolute() else source.parent / row[0]
            entries.append((path, row[1], row[2] if len(row) > 2 else path.stem, 0))
    elif not source.exists():
        raise FileNotFoundError(f"{source} does not exist")
    else:
        raise ValueError(f"{source}: give a folder of audio files or a .csv of path,label[,group]")
    if not entries:
        raise ValueError(f"{source}: no audio files ({', '.join(AUDIO_SUFFIXES)}) found")
    clips = AudioClips([], [], [], [], [], sample_rate)
    for path, label, group, take in entries:
        try:
            wave = load_waveform(path, sample_rate)
        except (ValueError, FileNotFoundError) as err:
            reason = str(err).split(": ", 1)[-1].split(" (")[0]
            clips.skipped.setdefault(reason, []).append(path.name)
            continue
        clips.waveforms.append(wave)
        clips.labels.append(label)
        clips.groups.append(group)
        clips.takes.append(take)
        clips.paths.append(str(path))
    if clips.skipped:
        logger.warning("skipped %d unreadable clips: %s", sum(map(len, clips.skipped.values())),
                       {k: len(v) for k, v in clips.skipped.items()})
    if not clips.waveforms:
        raise ValueError(f"{source}: none of the {len(entries)} files could be loaded ({clips.skipped})")
    return clips
