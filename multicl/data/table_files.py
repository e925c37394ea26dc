"""Read a table (CSV, TSV, parquet; optionally gzipped) into a pandas DataFrame, with clear errors."""
from __future__ import annotations

from pathlib import Path


def read_table(path: str | Path, **read_kwargs):
    """``.parquet`` via pyarrow; ``.csv``/``.tsv`` (and ``.gz`` of them) via pandas. Empty files,
    header-only files and folders are errors that name the file."""
    import pandas as pd

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"file not found: {path}")
    if path.is_dir():
        raise IsADirectoryError(f"expected a file, got the folder {path}")
    if path.stat().st_size == 0:
        raise ValueError(f"{path} is empty")
    suffixes = [s.lower() for s in path.suffixes]
    try:
        if ".parquet" in suffixes:
            frame = pd.read_parquet(path, **read_kwargs)
        else:
            sep = "\t" if ".tsv" in suffixes else ","
            frame = pd.read_csv(path, sep=sep, **read_kwargs)
    except pd.errors.EmptyDataError as err:
        raise ValueError(f"{path} has no columns ({err})") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise ValueError(f"{path} could not be parsed as a table: {err}") from None
    if len(frame) == 0:
        raise ValueError(f"{path} has a header but no rows")
    return frame
