"""UCR archive (2018) ``.tsv`` files: one series per line, the class label first, then the values.

``read_ucr_tsv(path) -> SeriesSet`` gives univariate ``(T_i, 1)`` float32 series. Cells are
tab-separated (commas or spaces are accepted too). The archive pads its variable-length sets with
trailing ``NaN``: those are cut, so each series keeps its own length; a ``NaN`` (or ``?``) inside a
series stays NaN, a gap for :func:`multicl.data.series_files.fill_gaps`. Numeric labels are
written canonically (``1.0`` -> ``1``) so they match the same set's ``.ts`` / ``.arff`` labels.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from multicl.data.series_files import SeriesSet, canonical_label, content_lines, parse_values, trim_trailing_padding
from multicl.errors import UserInputError

_SEPARATORS = re.compile(r"[\t,]|\s+")


def read_ucr_tsv(path: str | Path) -> SeriesSet:
    """Read a UCR ``.tsv`` (or ``.tsv.gz``) file; errors name the line and the cell."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such .tsv file")
    series: list[np.ndarray] = []
    labels: list[str] = []
    for line_no, line in content_lines(path):
        cells = [c for c in _SEPARATORS.split(line) if c != ""]
        if len(cells) < 2:
            raise UserInputError(f"{path}:{line_no}: expected 'label<TAB>value<TAB>value...' (the UCR .tsv layout), got {line[:60]!r}")
        values = parse_values(cells[1:], f"{path}:{line_no}: every cell after the label must be a number (or NaN)")
        values = trim_trailing_padding(values[:, None])
        if len(values) == 0:
            raise UserInputError(f"{path}:{line_no}: the series holds no value (only NaN after the label)")
        series.append(values)
        labels.append(canonical_label(cells[0]))
    if not series:
        raise UserInputError(f"{path}: no series (an empty file)")
    return SeriesSet(series, labels, None, path.name.split(".")[0].replace("_TRAIN", "").replace("_TEST", ""), {"format": "ucr_tsv"})
