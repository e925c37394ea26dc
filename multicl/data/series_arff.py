"""UEA/UCR ``.arff`` files (Weka's format, as the archives ship them).

``read_arff(path) -> SeriesSet`` reads both layouts the archives use:
- univariate: one ``numeric`` attribute per time step, then the class attribute; a row is
  ``v1,v2,...,label``;
- multivariate: one ``relational`` attribute (its inner attributes are the time steps) then the
  class attribute; a row is ``'d0 values\\nd1 values...',label``, dimensions separated by a
  literal ``\\n`` inside the quotes.

The class attribute is the last one when it is nominal (``{a,b,...}``); otherwise the set is
unlabelled. ``?`` is NaN; trailing steps missing in every dimension are the padding of a
variable-length set and are cut. Keywords are case-insensitive; sparse rows are refused.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from multicl.data.series_files import SeriesSet, append_series, canonical_label, content_lines, parse_values, trim_trailing_padding
from multicl.errors import UserInputError

_QUOTED_ROW = re.compile(r"""^\s*(['"])(.*)\1\s*(?:,\s*(.*?))?\s*$""")


def read_arff(path: str | Path) -> SeriesSet:
    """Read a UEA/UCR ``.arff`` (or ``.arff.gz``) file; errors name the line and what was expected."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such .arff file")
    relation = path.name.split(".")[0]
    attributes: list[tuple[str, str]] = []  # (name, type) at the top level
    relational = False
    in_relational = in_data = False
    series: list[np.ndarray] = []
    labels: list[str] = []
    class_names: list[str] | None = None
    for line_no, line in content_lines(path, "%"):
        if not in_data:
            keyword, _, rest = line.partition(" ")
            keyword, rest = keyword.lower(), rest.strip()
            if keyword == "@relation":
                relation = rest.strip("'\"") or relation
            elif keyword == "@attribute":
                name, kind = _split_attribute(path, line_no, rest)
                if in_relational:
                    continue  # the time steps of the relational attribute
                if kind.lower() == "relational":
                    relational = in_relational = True
                attributes.append((name, kind))
            elif keyword == "@end":
                in_relational = False
            elif keyword == "@data":
                if not attributes:
                    raise UserInputError(f"{path}:{line_no}: '@data' before any '@attribute' line")
                class_names = _class_names(attributes[-1][1])
                in_data = True
            else:
                raise UserInputError(f"{path}:{line_no}: expected '@relation', '@attribute', '@end' or '@data', got {line[:60]!r}")
            continue
        if line.startswith("{"):
            raise UserInputError(f"{path}:{line_no}: sparse ARFF rows are not supported; write the file in the dense layout")
        if relational:
            values, label = _relational_row(path, line_no, line, class_names is not None)
        else:
            values, label = _numeric_row(path, line_no, line, class_names is not None, len(attributes))
        append_series(f"{path}:{line_no}", values, label, series, labels, class_names)
    if not in_data:
        raise UserInputError(f"{path}: no '@data' line; an .arff file has '@attribute' lines, then '@data', then one series per line")
    if not series:
        raise UserInputError(f"{path}: no series after '@data'")
    return SeriesSet(series, labels if class_names is not None else None, class_names, relation, {"format": "arff"})


def _split_attribute(path: Path, line_no: int, rest: str) -> tuple[str, str]:
    if rest[:1] in "'\"":
        end = rest.find(rest[0], 1)
        if end < 0:
            raise UserInputError(f"{path}:{line_no}: an attribute name opens a quote it never closes")
        name, kind = rest[1:end], rest[end + 1:].strip()
    else:
        name, _, kind = rest.partition(" ")
        kind = kind.strip()
    if not kind:
        raise UserInputError(f"{path}:{line_no}: '@attribute {name}' has no type (numeric, relational or {{class,names}})")
    return name, kind


def _class_names(kind: str) -> list[str] | None:
    """The nominal values of ``{a, b, ...}``, or None for a numeric last attribute (no labels)."""
    if not kind.startswith("{"):
        return None
    return [canonical_label(v) for v in kind.strip("{}").split(",") if v.strip()]


def _numeric_row(path: Path, line_no: int, line: str, labelled: bool, width: int) -> tuple[np.ndarray, str | None]:
    cells = line.split(",")
    if len(cells) != width:
        raise UserInputError(f"{path}:{line_no}: {len(cells)} cells, the header declares {width} attributes")
    label = canonical_label(cells.pop()) if labelled else None
    values = trim_trailing_padding(parse_values(cells, f"{path}:{line_no}: values")[:, None])
    if len(values) == 0:
        raise UserInputError(f"{path}:{line_no}: the series holds no value")
    return values, label


def _relational_row(path: Path, line_no: int, line: str, labelled: bool) -> tuple[np.ndarray, str | None]:
    match = _QUOTED_ROW.match(line)
    if match is None:
        raise UserInputError(f"{path}:{line_no}: expected a quoted series then its label, 'd0 values\\nd1 values',label")
    body, label = match.group(2), match.group(3)
    if labelled and not label:
        raise UserInputError(f"{path}:{line_no}: no label after the quoted series (the header declares a class attribute)")
    dims = [parse_values(part.split(","), f"{path}:{line_no}: dimension {d}") for d, part in enumerate(body.split("\\n"))]
    lengths = {len(x) for x in dims}
    if len(lengths) != 1:
        raise UserInputError(f"{path}:{line_no}: the dimensions of one series have different lengths {sorted(lengths)}")
    values = trim_trailing_padding(np.stack(dims, axis=1))
    if len(values) == 0:
        raise UserInputError(f"{path}:{line_no}: the series holds no value")
    return values, (canonical_label(label) if labelled else None)
