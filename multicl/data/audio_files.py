"""Audio clips from a folder of ``{label}_{speaker}_{take}.wav`` files or a CSV of ``path,label[,group]``.

Loading goes through soundfile (torchaudio's own loader now needs torchcodec). Every clip is
mixed down to mono, resampled to ``sample_rate`` with ``torchaudio.functional.resample`` and
returned as float32 in [-1, 1].

Bad files follow one documented policy: a file soundfile cannot decode (truncated, not audio),
a zero-length clip, one with NaN/inf samples, or a file a CSV lists that does not exist
("missing") is skipped with a WARNING that names every such file, and recorded in
``AudioClips.skipped`` (reason -> file names); a folder where nothing loads is an error. A clip
shorter than the log-mel frontend's analysis window (25 ms) is zero-padded to it (named in a
WARNING and in ``AudioClips.padded``). A CSV row with an empty path or label, or a CSV that is not
UTF-8, is an error naming the file and line.
"""
from __future__ import annotations

import csv
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from multicl.errors import UserInputError

logger = logging.getLogger(__name__)
WINDOW_SECONDS = 0.025  # the log-mel frontend's analysis window (multicl.encoders.audio.LogMelFrontend win_ms)
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
    padded: list[str] = field(default_factory=list)  # clips shorter than the frontend window, zero-padded to it

    def counts(self, prefix: str) -> dict[str, float]:
        """What metrics.json records: ``{prefix}_files_skipped``, one count per reason, ``{prefix}_clips_padded``."""
        out = {f"{prefix}_files_skipped": float(sum(map(len, self.skipped.values()))), f"{prefix}_clips_padded": float(len(self.padded))}
        for reason, names in self.skipped.items():
            out[f"{prefix}_files_skipped_{_slug(reason)}"] = float(len(names))
        return out

    def __len__(self) -> int:
        return len(self.waveforms)

    def subset(self, keep) -> "AudioClips":
        keep = [i for i in range(len(self)) if keep(i)]
        return AudioClips([self.waveforms[i] for i in keep], [self.labels[i] for i in keep], [self.groups[i] for i in keep],
                          [self.takes[i] for i in keep], [self.paths[i] for i in keep], self.sample_rate, dict(self.skipped),
                          list(self.padded))


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


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
        try:
            text = source.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError as err:
            raise UserInputError(f"{source} is not valid UTF-8 (byte {err.start}); convert it, e.g. "
                                 f"`iconv -f latin1 -t utf-8 {source.name}`") from None
        rows = [(n, r) for n, r in enumerate(csv.reader(text.splitlines()), start=1) if any(c.strip() for c in r)]
        if rows and rows[0][1][0].strip().lower() == "path":
            rows = rows[1:]
        for line, row in rows:
            row = [c.strip() for c in row]
            if len(row) < 2 or not row[0] or not row[1]:
                raise UserInputError(f"{source} line {line}: expected path,label[,group] with a path and a label, got {row}; "
                                     "fill in the cell or delete the row")
            path = Path(row[0]) if Path(row[0]).is_absolute() else source.parent / row[0]
            entries.append((path, row[1], row[2] if len(row) > 2 else path.stem, 0))
    elif not source.exists():
        raise FileNotFoundError(f"{source} does not exist")
    else:
        raise ValueError(f"{source}: give a folder of audio files or a .csv of path,label[,group]")
    if not entries:
        raise UserInputError(f"{source}: no audio files ({', '.join(AUDIO_SUFFIXES)}) found")
    clips = AudioClips([], [], [], [], [], sample_rate)
    window = int(round(WINDOW_SECONDS * sample_rate))
    for path, label, group, take in entries:
        if not path.exists():
            clips.skipped.setdefault("missing", []).append(str(path))
            continue
        try:
            wave = load_waveform(path, sample_rate)
        except (ValueError, FileNotFoundError) as err:
            reason = str(err).split(": ", 1)[-1].split(" (")[0]
            clips.skipped.setdefault(reason, []).append(str(path))
            continue
        if len(wave) < window:
            wave = np.pad(wave, (0, window - len(wave)))
            clips.padded.append(str(path))
        clips.waveforms.append(wave)
        clips.labels.append(label)
        clips.groups.append(group)
        clips.takes.append(take)
        clips.paths.append(str(path))
    for reason, names in clips.skipped.items():
        logger.warning("%s: skipped %d file%s (%s): %s", source, len(names), "s" if len(names) > 1 else "", reason, ", ".join(names))
    if clips.padded:
        logger.warning("%s: %d clip%s shorter than the %g ms analysis window, zero-padded to it: %s", source, len(clips.padded),
                       "s" if len(clips.padded) > 1 else "", 1000 * WINDOW_SECONDS, ", ".join(clips.padded))
    if not clips.waveforms:
        raise UserInputError(f"{source}: none of the {len(entries)} files could be loaded ({clips.skipped})")
    return clips
