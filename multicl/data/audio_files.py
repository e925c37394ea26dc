"""Audio clips from any folder of audio files or a CSV of ``path,label[,group]``.

Labels in a folder: a file named ``{label}_{speaker}_{take}`` (Free Spoken Digit Dataset naming)
has its label, speaker and take; any other file in a subfolder (``root/<class>/*.wav``, at any
depth) has the label of its parent folder (speaker = that folder, no take: ``-1``); any other file
directly in the folder is unlabelled (label ``None``: pre-training only). A CSV row gives path and
label (group: the third column, else the file's stem; no take).

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
    labels: list[str | None]  # None: an unlabelled clip (pre-training only)
    groups: list[str]
    takes: list[int]  # -1: no take (not FSDD-named)
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

    @property
    def labelled(self) -> "AudioClips":
        return self.subset(lambda i: self.labels[i] is not None)

    @property
    def unlabelled(self) -> "AudioClips":
        return self.subset(lambda i: self.labels[i] is None)

    @property
    def has_takes(self) -> bool:
        """Every clip FSDD-named (so a split by take is defined)."""
        return bool(self.takes) and min(self.takes) >= 0

    def __add__(self, other: "AudioClips") -> "AudioClips":
        if other.sample_rate != self.sample_rate:
            raise ValueError(f"clips at {self.sample_rate} Hz and {other.sample_rate} Hz cannot be combined")
        skipped = {k: list(v) for k, v in self.skipped.items()}
        for reason, names in other.skipped.items():
            have = skipped.setdefault(reason, [])
            have.extend(n for n in names if n not in have)
        return AudioClips(self.waveforms + other.waveforms, self.labels + other.labels, self.groups + other.groups,
                          self.takes + other.takes, self.paths + other.paths, self.sample_rate, skipped,
                          self.padded + [p for p in other.padded if p not in self.padded])

    def split_per_class(self, test_fraction: float, seed: int) -> tuple["AudioClips", "AudioClips"]:
        """A seeded train/test split within each label: ``round(n * test_fraction)`` clips of a
        class of ``n`` go to test, at least one and never all (a one-clip class stays in training,
        with a WARNING); unlabelled clips stay in training."""
        rng = np.random.default_rng(seed)
        test_rows: set[int] = set()
        alone = []
        for label in sorted({x for x in self.labels if x is not None}):
            rows = [i for i, x in enumerate(self.labels) if x == label]
            if len(rows) < 2:
                alone.append(label)
                continue
            count = min(max(int(round(len(rows) * test_fraction)), 1), len(rows) - 1)
            test_rows.update(int(r) for r in rng.permutation(rows)[:count])
        if alone:
            logger.warning("classes with one clip stay in training only (no test clip): %s", ", ".join(alone))
        return self.subset(lambda i: i not in test_rows), self.subset(lambda i: i in test_rows)

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
    """Any folder of audio files (FSDD naming ``{label}_{speaker}_{take}``; other files get label =
    parent folder, or none directly in ``source``: see the module doc) or a CSV with columns
    ``path,label[,group]`` (relative paths resolve against the CSV)."""
    source = Path(source)
    entries: list[tuple[Path, str | None, str, int]] = []
    if source.is_dir():
        files = sorted(p for p in source.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file())
        for p in files:
            match = FSDD_NAME.match(p.stem)
            if match:
                entries.append((p, match["label"], match["speaker"], int(match["take"])))
            elif p.parent != source:
                entries.append((p, p.parent.name, p.parent.name, -1))  # root/<class>/*.wav
            else:
                entries.append((p, None, p.stem, -1))  # unlabelled
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
            entries.append((path, row[1], row[2] if len(row) > 2 else path.stem, -1))
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
