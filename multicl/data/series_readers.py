"""Which reader opens a file of labelled series: the registry of series-set formats.

``read_series_set(path)`` picks the reader from the file's suffix (``.gz`` allowed after it):
``.ts`` (sktime/aeon text format), ``.arff`` (Weka, as the UEA/UCR archives ship it), ``.tsv``
(the UCR 2018 archive). ``default_test_path(train)`` finds ``*_TEST.*`` next to ``*_TRAIN.*``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from multicl.data.series_arff import read_arff
from multicl.data.series_files import SeriesSet, read_ts
from multicl.data.series_ucr_tsv import read_ucr_tsv
from multicl.errors import UserInputError

SERIES_SET_READERS: dict[str, Callable[[str | Path], SeriesSet]] = {".ts": read_ts, ".arff": read_arff, ".tsv": read_ucr_tsv}


def series_set_format(path: str | Path) -> str | None:
    """The series-set suffix of ``path`` (``.ts``, ``.arff``, ``.tsv``; a trailing ``.gz`` ignored), or None."""
    suffixes = [s.lower() for s in Path(path).suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    return suffixes[-1] if suffixes and suffixes[-1] in SERIES_SET_READERS else None


def read_series_set(path: str | Path) -> SeriesSet:
    """Read a file of labelled series with the reader its suffix names."""
    kind = series_set_format(path)
    if kind is None:
        raise UserInputError(f"{path}: not a series-set file; the suffix must be one of {', '.join(SERIES_SET_READERS)} (optionally + .gz)")
    return SERIES_SET_READERS[kind](path)


def default_test_path(train: str | Path) -> Path | None:
    """``X_TRAIN.<fmt>`` -> ``X_TEST.<fmt>`` when it exists, else ``X_TEST`` in another series-set
    format (the archives ship some sets' splits in different formats); None when there is none."""
    train = Path(train)
    if "_TRAIN" not in train.name:
        return None
    same = train.with_name(train.name.replace("_TRAIN", "_TEST"))
    if same.is_file():
        return same
    stem = train.name.split("_TRAIN")[0] + "_TEST"
    for suffix in SERIES_SET_READERS:
        for candidate in (train.with_name(stem + suffix), train.with_name(stem + suffix + ".gz")):
            if candidate.is_file():
                return candidate
    return None
