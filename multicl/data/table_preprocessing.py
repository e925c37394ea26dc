"""Table preprocessing fitted on training rows only, saved with the model.

``TablePreprocessor.fit(frame)`` infers (or takes) which columns are numeric and which are
categorical, then learns per column what ``transform`` needs:

- numeric: ``quantile`` (default: rank -> standard normal, robust to heavy-tailed counts such as
  bytes), ``robust`` (median / IQR after a signed log1p) or ``standard`` scaling; missing values
  (NaN, None, empty cells) become the training median plus a 0/1 "was missing" column for every
  numeric column that had missing values in training;
- categorical: a vocabulary of values seen at least ``min_frequency`` times in training; code 0
  is "unseen" (out of vocabulary, also rare values), code 1 is "missing", codes >= 2 the values.

Policy for bad input (documented, tested): a missing column is an error naming it; extra
columns are ignored (listed once in a warning); ``inf`` in a numeric column is an error naming
the column and row; a non-numeric value in a numeric column is an error naming the file, column,
line and value (``non_numeric="nan"``: such cells are imputed like missing ones and counted), in
training as at test time. Schema inference never makes a column categorical because of a few
bad cells: a text column whose cells are at least ``MOSTLY_NUMERIC`` (but not all) numbers is
numeric, and its non-numbers are errors (or NaN); a text column of numbers only stays categorical. Unseen categories map to the OOV code; imputed cells and unseen
categories are counted in ``last_report`` and logged at WARNING. A frame read by
:func:`multicl.data.table_files.read_table` carries its file in ``frame.attrs["source"]``, so
errors give ``file line N`` (the header is line 1); other frames give ``row N`` (0-based).
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from multicl.errors import MissingColumnError, UserInputError

logger = logging.getLogger(__name__)
MOSTLY_NUMERIC = 0.9  # share of numeric cells above which a text column is a numeric column with typos
NON_NUMERIC = ("error", "nan")

SCALINGS = ("quantile", "robust", "standard")
OOV, MISSING = 0, 1  # reserved categorical codes


@dataclass
class TransformedTable:
    """``numeric`` float32 (N, F_num) incl. missing indicators; ``categorical`` int64 (N, F_cat)."""

    numeric: np.ndarray
    categorical: np.ndarray

    def __len__(self) -> int:
        return len(self.numeric)

    def __getitem__(self, index) -> "TransformedTable":
        """Rows by an index array / slice (a TransformedTable); used by miners and batching."""
        index = np.atleast_1d(np.asarray(index)) if not isinstance(index, slice) else index
        return TransformedTable(self.numeric[index], self.categorical[index])

    supports_row_indexing = True


@dataclass
class TablePreprocessor:
    """Args:
        numeric / categorical: column names; ``None`` infers them from the training frame
            (numeric dtype -> numeric unless it has at most ``max_integer_levels`` distinct
            integer values and is listed in ``categorical``; object/string/bool/category ->
            categorical).
        exclude: columns never used as features (labels, ids).
        scaling: ``quantile`` | ``robust`` | ``standard``.
        min_frequency: rarer categorical values go to the OOV code.
        n_quantiles: resolution of the quantile transform.
        non_numeric: ``error`` (default) or ``nan``: what a non-number in a numeric column does.
    """

    numeric: Sequence[str] | None = None
    categorical: Sequence[str] | None = None
    exclude: Sequence[str] = ()
    scaling: str = "quantile"
    min_frequency: int = 1
    n_quantiles: int = 1000
    non_numeric: str = "error"
    state: dict[str, Any] = field(default_factory=dict)
    last_report: dict[str, Any] = field(default_factory=dict)

    # -- fit ---------------------------------------------------------------------------------
    def fit(self, frame) -> "TablePreprocessor":
        import pandas as pd

        if self.scaling not in SCALINGS:
            raise ValueError(f"scaling must be one of {SCALINGS}, got {self.scaling!r}")
        if self.non_numeric not in NON_NUMERIC:
            raise ValueError(f"non_numeric must be one of {NON_NUMERIC}, got {self.non_numeric!r}")
        if len(frame) == 0:
            raise ValueError("cannot fit preprocessing on an empty table")
        excluded = set(self.exclude)
        missing = [c for c in [*(self.numeric or ()), *(self.categorical or ()), *excluded] if c not in frame.columns]
        if missing:
            raise MissingColumnError(f"columns {missing} are not in the table (it has {list(frame.columns)[:20]})")
        categorical = list(self.categorical) if self.categorical is not None else [
            c for c in frame.columns if c not in excluded and not _is_numeric_dtype(frame[c]) and c not in (self.numeric or ())
            and not _mostly_numeric(frame[c])
        ]
        numeric = list(self.numeric) if self.numeric is not None else [
            c for c in frame.columns if c not in excluded and c not in categorical
        ]
        if not numeric and not categorical:
            raise ValueError("no feature columns left after exclusions")
        num_state = {}
        report: dict[str, Any] = {"imputed": {}, "non_numeric_cells": {}}
        for column in numeric:
            values = self._numeric(frame, column, report)
            finite = values[~np.isnan(values)]
            if len(finite) == 0:
                raise ValueError(f"numeric column {column!r} has no values in the training table")
            entry: dict[str, Any] = {"median": float(np.median(finite)), "has_missing": bool(np.isnan(values).any())}
            if self.scaling == "quantile":
                qs = np.linspace(0, 1, min(self.n_quantiles, len(finite)))
                entry["quantiles"] = np.quantile(finite, qs).tolist()
            else:
                x = _signed_log1p(finite) if self.scaling == "robust" else finite
                if self.scaling == "robust":
                    q1, med, q3 = np.quantile(x, [0.25, 0.5, 0.75])
                    spread = q3 - q1 if q3 > q1 else (x.std() or 1.0)
                    entry.update(center=float(med), scale=float(spread))
                else:
                    entry.update(center=float(x.mean()), scale=float(x.std() or 1.0))
            num_state[column] = entry
        cat_state = {}
        for column in categorical:
            series = frame[column]
            present = series[~pd.isna(series)].astype(str)
            counts = present.value_counts()
            vocab = sorted(counts[counts >= self.min_frequency].index.tolist())
            cat_state[column] = {"vocab": vocab}
        self.numeric, self.categorical = numeric, categorical
        self.last_report = _warn(report, _source(frame), "training")
        self.state = {"numeric": num_state, "categorical": cat_state, "scaling": self.scaling, "exclude": list(excluded)}
        return self

    # -- transform -----------------------------------------------------------------------------
    @property
    def cardinalities(self) -> list[int]:
        """Codes per categorical column (vocabulary + OOV + missing), for embedding tables."""
        return [len(self.state["categorical"][c]["vocab"]) + 2 for c in self.categorical]

    @property
    def numeric_width(self) -> int:
        return len(self.numeric) + sum(e["has_missing"] for e in self.state["numeric"].values())

    def transform(self, frame) -> TransformedTable:
        import pandas as pd
        from scipy.stats import norm

        if not self.state:
            raise RuntimeError("fit the preprocessor on training data before transform")
        if len(frame) == 0:
            raise ValueError("the table is empty: no rows to transform")
        needed = [*self.numeric, *self.categorical]
        absent = [c for c in needed if c not in frame.columns]
        if absent:
            raise MissingColumnError(f"columns {absent} were used in training but are missing from {_source(frame) or 'this table'}; add them (empty cells are imputed)")
        extra = sorted(set(frame.columns) - set(needed) - set(self.state["exclude"]))
        report: dict[str, Any] = {"ignored_columns": extra, "imputed": {}, "non_numeric_cells": {}, "unseen_categories": {}}
        if extra:
            logger.warning("ignoring %d columns not used in training: %s", len(extra), extra[:10])
        blocks, indicators = [], []
        for column in self.numeric:
            entry = self.state["numeric"][column]
            values = self._numeric(frame, column, report)
            missing = np.isnan(values)
            if missing.any():
                report["imputed"][column] = int(missing.sum())
                values = np.where(missing, entry["median"], values)
            blocks.append(self._scale(values, entry, norm))
            if entry["has_missing"]:
                indicators.append(missing.astype(np.float32))
        numeric = np.stack(blocks + indicators, axis=1).astype(np.float32) if blocks else np.zeros((len(frame), 0), np.float32)
        codes = []
        for column in self.categorical:
            series = frame[column]
            is_missing = pd.isna(series).to_numpy()
            # vocabulary position + 2; unseen values come out of get_indexer as -1 -> OOV (0)
            codes_in_vocab = pd.Index(self.state["categorical"][column]["vocab"]).get_indexer(series.astype(str))
            col = np.where(codes_in_vocab >= 0, codes_in_vocab.astype(np.int64) + 2, OOV)
            col[is_missing] = MISSING
            unseen = int((col == OOV).sum())
            if unseen:
                report["unseen_categories"][column] = unseen
            codes.append(col)
        categorical = np.stack(codes, axis=1) if codes else np.zeros((len(frame), 0), np.int64)
        self.last_report = _warn(report, _source(frame), "this table")
        return TransformedTable(numeric, categorical)

    def _numeric(self, frame, column: str, report: dict[str, Any]) -> np.ndarray:
        values, bad = _numeric_column(frame[column], column, _source(frame), frame.index, self.non_numeric)
        if bad:
            report["non_numeric_cells"][column] = bad
        return values

    def _scale(self, values: np.ndarray, entry: dict[str, Any], norm) -> np.ndarray:
        if self.state["scaling"] == "quantile":
            quantiles = np.asarray(entry["quantiles"])
            if quantiles[-1] == quantiles[0]:
                return np.zeros_like(values)
            # Rank within training values -> uniform (0, 1) -> standard normal; ties share ranks
            # by averaging the left and right positions, so a constant spike maps to one value.
            grid = np.linspace(0, 1, len(quantiles))
            left = np.interp(values, quantiles, grid, left=0.0, right=1.0)
            right = -np.interp(-values, -quantiles[::-1], -grid[::-1], left=-1.0, right=0.0)
            u = np.clip((left + right) / 2, 1e-4, 1 - 1e-4)
            return norm.ppf(u)
        x = _signed_log1p(values) if self.state["scaling"] == "robust" else values
        return np.clip((x - entry["center"]) / entry["scale"], -1e4, 1e4)

    # -- persistence -----------------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        from multicl.utils.io import atomic_write_json

        atomic_write_json(Path(path), {"numeric": self.numeric, "categorical": self.categorical, "scaling": self.scaling,
                                       "min_frequency": self.min_frequency, "n_quantiles": self.n_quantiles,
                                       "non_numeric": self.non_numeric, "state": self.state})

    @classmethod
    def load(cls, path: str | Path) -> "TablePreprocessor":
        data = json.loads(Path(path).read_text())
        return cls(numeric=data["numeric"], categorical=data["categorical"], exclude=data["state"]["exclude"],
                   scaling=data["scaling"], min_frequency=data["min_frequency"], n_quantiles=data["n_quantiles"],
                   non_numeric=data.get("non_numeric", "error"), state=data["state"])


def _is_numeric_dtype(series) -> bool:
    import pandas as pd

    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def _source(frame) -> str | None:
    return getattr(frame, "attrs", {}).get("source")


def _where(source: str | None, index, row: int) -> str:
    """``file line N`` for a frame read from a file (header = line 1), else ``row N``."""
    if source is not None:
        from multicl.data.table_files import line_of_row

        label = index[row]
        line = line_of_row(source, int(label)) if isinstance(label, (int, np.integer)) else None
        return f"{source} line {line}" if line is not None else f"{source} row {label!r}"
    return f"row {row}"


def _mostly_numeric(series) -> bool:
    """A text column whose non-missing cells are mostly numbers (a numeric column with typos)."""
    import pandas as pd

    if pd.api.types.is_bool_dtype(series):
        return False
    present = series[~pd.isna(series)]
    present = present[present.astype(str).str.strip() != ""]
    if len(present) == 0:
        return False
    numbers = int(pd.to_numeric(present, errors="coerce").notna().sum())
    # all numbers in a text column: the user made it text on purpose (codes, ports) -> categorical;
    # mostly numbers: a numeric column that a few bad cells turned into text -> numeric (they are errors)
    return MOSTLY_NUMERIC * len(present) <= numbers < len(present)


def _numeric_column(series, column: str, source: str | None = None, index=None, non_numeric: str = "error") -> tuple[np.ndarray, int]:
    """float64 values with NaN for missing, and the count of non-numbers made NaN (``non_numeric="nan"``).
    Errors name the file, line (or row), column and bad value."""
    import pandas as pd

    index = series.index if index is None else index
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
        return _check_finite(values, column, source, index), 0
    converted = pd.to_numeric(series, errors="coerce")
    bad = converted.isna() & ~pd.isna(series) & (series.astype(str).str.strip() != "")
    count = int(bad.sum())
    if count and non_numeric == "error":
        row = int(bad.to_numpy().nonzero()[0][0])
        raise UserInputError(
            f"{_where(source, index, row)}, numeric column {column!r}: {series.iloc[row]!r} is not a number "
            f"({count} such cell{'s' if count > 1 else ''} in the column); fix the cell, leave it empty to impute it, "
            f"or list the column as categorical if it is one"
            + ("" if source is None else " (TablePreprocessor(non_numeric='nan'), or --non-numeric nan in the security recipe, imputes such cells and counts them)")
        )
    return _check_finite(converted.to_numpy(dtype=np.float64), column, source, index), count


def _check_finite(values: np.ndarray, column: str, source: str | None = None, index=None) -> np.ndarray:
    infinite = np.isinf(values)
    if infinite.any():
        row = int(infinite.nonzero()[0][0])
        where = _where(source, index, row) if index is not None else f"row {row}"
        raise UserInputError(f"{where}, numeric column {column!r}: {values[row]} is infinite; replace it (or leave it empty to impute)")
    return values


def _warn(report: dict[str, Any], source: str | None, what: str) -> dict[str, Any]:
    """Log the counts users care about at WARNING (when non-zero); return the report."""
    name = source or what
    if report.get("non_numeric_cells"):
        logger.warning("%s: non-numbers in numeric columns imputed as missing: %s", name, report["non_numeric_cells"])
    if report.get("imputed"):
        logger.warning("%s: missing numeric cells imputed with the training median: %s", name, report["imputed"])
    if report.get("unseen_categories"):
        logger.warning("%s: categories unseen in training (mapped to the unseen code): %s", name, report["unseen_categories"])
    return report


def report_counts(report: dict[str, Any], prefix: str) -> dict[str, float]:
    """Flat totals of a ``last_report`` for metrics.json: ``{prefix}_cells_imputed`` etc."""
    return {f"{prefix}_cells_imputed": float(sum(report.get("imputed", {}).values())),
            f"{prefix}_non_numeric_cells": float(sum(report.get("non_numeric_cells", {}).values())),
            f"{prefix}_unseen_categories": float(sum(report.get("unseen_categories", {}).values()))}


def _signed_log1p(x: np.ndarray) -> np.ndarray:
    return np.sign(x) * np.log1p(np.abs(x))
