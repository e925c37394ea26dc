"""Time series on disk: UEA/UCR ``.ts`` files (sets of labelled series) and CSV streams.

``read_ts(path) -> SeriesSet``: one ``(T_i, C)`` float32 array per series (lengths may differ),
``?`` / ``NaN`` cells as NaN, class labels as declared by ``@classLabel``. Header errors name the
line and what was expected. Series with timestamps (``@timeStamps true``) are refused.

``read_stream_csv(path) -> Stream``: one long recording ``(T, C)`` with an optional per-step
label column and a timestamp column (the sampling rate is inferred from it).

``fill_gaps(values)``: linear interpolation over NaN runs per channel (edges take the nearest
value); returns the filled copy and how many cells were filled. A channel with no value at all
is an error: there is nothing to interpolate from.
"""
from __future__ import annotations

import csv
import gzip
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from multicl.errors import UserInputError


@dataclass
class SeriesSet:
    """Series of one dataset. ``series[i]``: (T_i, C) float32; ``labels[i]``: class name or None."""

    series: list[np.ndarray]
    labels: list[str] | None
    class_names: list[str] | None
    name: str = ""
    header: dict[str, str] = field(default_factory=dict)

    @property
    def channels(self) -> int:
        return self.series[0].shape[1]

    def label_ids(self, names: list[str] | None = None) -> np.ndarray:
        """Class names -> integer ids in the order of ``names`` (default: the declared classes)."""
        if self.labels is None:
            raise ValueError(f"{self.name or 'these series'} carry no class labels")
        names = names or self.class_names or sorted(set(self.labels))
        index = {n: i for i, n in enumerate(names)}
        unknown = sorted(set(self.labels) - set(index))
        if unknown:
            raise ValueError(f"labels {unknown} are not among the classes {names}")
        return np.array([index[label] for label in self.labels])


@dataclass
class Stream:
    """One continuous recording: ``values`` (T, C) float32, optional per-step ``labels`` (T,)."""

    values: np.ndarray
    labels: np.ndarray | None
    channel_names: list[str]
    sample_rate: float | None = None
    name: str = ""


def _open(path: Path):
    """The file as text (strict UTF-8): a non-UTF-8 file is an error naming the file, line and byte."""
    import io

    data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    try:
        return io.StringIO(data.decode("utf-8-sig"))
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise UserInputError(f"{path} line {line}: not valid UTF-8 (byte {err.start}: {data[err.start:err.start + 8]!r}); "
                             f"convert it, e.g. `iconv -f latin1 -t utf-8 {path.name}`") from None


def canonical_label(label: str) -> str:
    """A class label as text, numbers written one way (``"1.0"`` / ``"01"`` -> ``"1"``) so that the
    same set's labels agree across formats."""
    label = label.strip().strip("'\"")
    try:
        number = float(label)
    except ValueError:
        return label
    return str(int(number)) if np.isfinite(number) and number == int(number) else label


def trim_trailing_padding(values: np.ndarray) -> np.ndarray:
    """(T, C) -> the series without its trailing steps that are NaN in every channel: how the UCR
    ``.tsv`` and UEA ``.arff`` files pad a variable-length set to one width."""
    finite = np.isfinite(values).any(axis=1)
    return values[: int(np.flatnonzero(finite)[-1]) + 1] if finite.any() else values[:0]


MISSING_CELLS = ("?", "NaN", "nan", "")


def parse_values(cells: list[str], where: str) -> np.ndarray:
    """Cells of one series -> float32, ``?`` / ``NaN`` / empty as NaN; anything else not a number is an error
    saying ``where``."""
    try:
        return np.array([np.nan if c.strip() in MISSING_CELLS else float(c) for c in cells], dtype=np.float32)
    except ValueError as err:
        raise UserInputError(f"{where}: {err}") from None


def content_lines(path: Path, comment: str | None = None) -> Iterator[tuple[int, str]]:
    """``(line number, stripped line)`` of a series file's non-blank lines that do not start with ``comment``
    (read by :func:`_open`: strict UTF-8, ``.gz`` allowed): the loop every series-set reader shares."""
    with _open(path) as f:
        for line_no, raw in enumerate(f, start=1):
            line = raw.strip()
            if line and not (comment and line.startswith(comment)):
                yield line_no, line


_BOOL_KEYS = ("timestamps", "missing", "univariate", "equallength", "classlabel", "targetlabel")


def read_ts(path: str | Path) -> SeriesSet:
    """Read a UEA/UCR ``.ts`` file (sktime/aeon text format)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such .ts file")
    header: dict[str, str] = {}
    class_names: list[str] | None = None
    series: list[np.ndarray] = []
    labels: list[str] = []
    in_data = False
    for line_no, line in content_lines(path, "#"):
        if not in_data:
            if not line.startswith("@"):
                raise ValueError(f"{path}:{line_no}: expected a header line starting with '@' (or '@data') before the series, got {line[:60]!r}")
            key, _, value = line[1:].partition(" ")
            key, value = key.lower(), value.strip()
            if key == "data":
                in_data = True
                _check_header(path, header)
                continue
            if key in _BOOL_KEYS:
                flag = value.split(" ")[0].lower()
                if flag not in ("true", "false"):
                    raise ValueError(f"{path}:{line_no}: @{key} must be 'true' or 'false', got {value!r}")
                if key == "classlabel" and flag == "true":
                    class_names = value.split()[1:]
                    if not class_names:
                        raise ValueError(f"{path}:{line_no}: '@classLabel true' must list the class names")
            if key == "dimensions" and not value.isdigit():
                raise ValueError(f"{path}:{line_no}: @dimensions must be a positive integer, got {value!r}")
            header[key] = value
            continue
        values, label = _parse_series(path, line_no, line, class_names is not None)
        if "dimensions" in header and values.shape[1] != int(header["dimensions"]):
            raise ValueError(f"{path}:{line_no}: {values.shape[1]} dimensions, the header declares {header['dimensions']}")
        append_series(f"{path}:{line_no}", values, label, series, labels, class_names)
    if not in_data:
        raise ValueError(f"{path}: no '@data' line; a .ts file has header lines (@problemName, @classLabel...) then '@data' then one series per line")
    if not series:
        raise ValueError(f"{path}: no series after '@data'")
    return SeriesSet(series, labels if class_names is not None else None, class_names, header.get("problemname", path.stem), header)


def append_series(where: str, values: np.ndarray, label: str | None, series: list[np.ndarray], labels: list[str],
                  class_names: list[str] | None) -> None:
    """Add one parsed series (and its label) to a set being read, after the checks every format shares:
    the same number of dimensions as the series before it, a label among the declared classes."""
    if series and values.shape[1] != series[0].shape[1]:
        raise UserInputError(f"{where}: {values.shape[1]} dimensions, earlier series have {series[0].shape[1]}")
    if label is not None:
        if class_names is not None and label not in class_names:
            raise UserInputError(f"{where}: label {label!r} is not among the declared classes {class_names}")
        labels.append(label)
    series.append(values)


def _check_header(path: Path, header: dict[str, str]) -> None:
    if header.get("timestamps", "false").lower() == "true":
        raise ValueError(f"{path}: series with timestamps ('@timeStamps true') are not supported; export them as plain values")


def _parse_series(path: Path, line_no: int, line: str, labelled: bool) -> tuple[np.ndarray, str | None]:
    parts = line.split(":")
    label = None
    if labelled:
        if len(parts) < 2:
            raise ValueError(f"{path}:{line_no}: expected 'values:...:label' (the header declares class labels), found no ':'")
        label = parts[-1].strip()
        parts = parts[:-1]
    dims = []
    for d, part in enumerate(parts):
        cells = [c.strip() for c in part.split(",") if c.strip() != ""]
        dims.append(parse_values(cells, f"{path}:{line_no}: dimension {d}"))
    lengths = {len(x) for x in dims}
    if len(lengths) != 1:
        raise ValueError(f"{path}:{line_no}: the dimensions of one series have different lengths {sorted(lengths)}")
    if 0 in lengths:
        raise ValueError(f"{path}:{line_no}: empty series")
    return np.stack(dims, axis=1), label  # (T, C)


def read_stream_csv(path: str | Path, label_column: str | None = "auto", time_column: str | None = "auto") -> Stream:
    """A CSV recording with a header: numeric channels, optional label and timestamp columns.

    ``label_column="auto"`` takes ``is_anomaly`` / ``label`` when present; ``time_column="auto"``
    takes ``timestamp`` / ``time`` when present (used to infer the sampling rate, then dropped).
    Empty cells become NaN (see :func:`fill_gaps`); any other non-number is an error naming the
    cell.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such CSV file")
    with _open(path) as f:
        rows = list(csv.reader(f))
    if not rows:
        raise ValueError(f"{path}: empty file")
    names = [n.strip() for n in rows[0]]
    body = [r for r in rows[1:] if r]
    if not body:
        raise ValueError(f"{path}: a header and no rows")
    lower = [n.lower() for n in names]
    if label_column == "auto":
        label_column = next((names[lower.index(n)] for n in ("is_anomaly", "label") if n in lower), None)
    if time_column == "auto":
        time_column = next((names[lower.index(n)] for n in ("timestamp", "time") if n in lower), None)
    for wanted in (label_column, time_column):
        if wanted is not None and wanted not in names:
            raise ValueError(f"{path}: no column {wanted!r}; columns are {names}")
    channels = [n for n in names if n not in (label_column, time_column)]
    columns = {n: i for i, n in enumerate(names)}
    values = np.empty((len(body), len(channels)), dtype=np.float32)
    for r, row in enumerate(body):
        if len(row) != len(names):
            raise ValueError(f"{path}:{r + 2}: {len(row)} cells, the header has {len(names)}")
        for c, name in enumerate(channels):
            cell = row[columns[name]].strip()
            try:
                values[r, c] = float(cell) if cell else np.nan
            except ValueError:
                raise ValueError(f"{path}:{r + 2}: column {name!r} holds {cell!r}, not a number") from None
    labels = None
    if label_column is not None:
        labels = np.array([float(row[columns[label_column]]) for row in body])
        labels = labels.astype(np.int64) if np.all(labels == np.round(labels)) else labels
    rate = _sample_rate([row[columns[time_column]] for row in body]) if time_column is not None else None
    return Stream(values, labels, channels, rate, path.stem)


def _sample_rate(stamps: list[str]) -> float | None:
    try:
        times = np.array(stamps, dtype="datetime64[ns]").astype(np.int64) / 1e9
    except ValueError:
        try:
            times = np.array(stamps, dtype=np.float64)
        except ValueError:
            return None
    if len(times) < 2:
        return None
    step = float(times[-1] - times[0]) / (len(times) - 1)  # the mean step: stamps rounded to ms would bias a median
    return 1.0 / step if step > 0 else None


def fill_gaps(values: np.ndarray) -> tuple[np.ndarray, int]:
    """(T, C) with NaN -> (filled copy, number of filled cells). Linear inside, nearest at the edges."""
    values = np.asarray(values, dtype=np.float32)
    missing = ~np.isfinite(values)
    count = int(missing.sum())
    if count == 0:
        return values, 0
    out = values.copy()
    t = np.arange(len(values))
    for c in range(values.shape[1]):
        bad = missing[:, c]
        if bad.all():
            raise ValueError(f"channel {c} has no finite value: cannot fill its gaps; drop the channel or the series")
        if bad.any():
            out[bad, c] = np.interp(t[bad], t[~bad], values[~bad, c])
    return out, count


def stitch_series(data: SeriesSet, seed: int = 0) -> Stream:
    """Concatenate a labelled set's series, in a shuffled order, into one stream whose per-step
    label is its series' class id: a continuous recording whose activity changes (for stream
    methods on classification sets)."""
    labels = data.label_ids()
    order = np.random.default_rng(seed).permutation(len(data.series))
    values = np.concatenate([data.series[i] for i in order])
    steps = np.concatenate([np.full(len(data.series[i]), labels[i]) for i in order])
    return Stream(values, steps, [f"c{i}" for i in range(data.channels)], None, f"{data.name}_stitched")


def write_stream_csv(stream: Stream, path: str | Path) -> None:
    """Write channels (and a ``label`` column when the stream has labels) as a CSV with a header."""
    with open(path, "w", encoding="utf-8") as f:
        f.write(",".join(stream.channel_names + (["label"] if stream.labels is not None else [])) + "\n")
        for t, row in enumerate(stream.values):
            cells = [f"{v:.7g}" for v in row] + ([str(stream.labels[t])] if stream.labels is not None else [])
            f.write(",".join(cells) + "\n")
