"""Read a table (CSV, TSV, parquet; optionally gzipped) into a pandas DataFrame, with clear errors."""
from __future__ import annotations

from pathlib import Path

from multicl.errors import UserInputError


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
        raise UserInputError(f"{path} is empty: expected a header line and rows")
    suffixes = [s.lower() for s in path.suffixes]
    try:
        if ".parquet" in suffixes:
            frame = pd.read_parquet(path, **read_kwargs)
        else:
            sep = "\t" if ".tsv" in suffixes else ","
            frame = pd.read_csv(path, sep=sep, **read_kwargs)
    except pd.errors.EmptyDataError as err:
        raise UserInputError(f"{path} has no columns ({err})") from None
    except UnicodeDecodeError as err:
        raise UserInputError(f"{path} is not valid UTF-8 (byte {err.start}); convert it, e.g. `iconv -f latin1 -t utf-8 {path.name}`") from None
    except pd.errors.ParserError as err:
        raise UserInputError(f"{path} could not be parsed as a table: {err}") from None
    if len(frame) == 0:
        raise UserInputError(f"{path} has a header but no rows")
    frame.attrs["source"] = str(path)  # errors on its cells name the file and line
    return frame


def line_of_row(path: str | Path, row: int) -> int | None:
    """The physical line (1-based; the header is line 1) where data row ``row`` (0-based, as
    pandas counts: blank lines skipped, quoted newlines kept in one row) starts; None for
    parquet or when the file cannot be re-read. Used only to word errors, so it re-reads the file."""
    import csv
    import gzip

    path = Path(path)
    suffixes = [s.lower() for s in path.suffixes]
    if ".parquet" in suffixes:
        return None
    try:
        raw = path.read_bytes()
        text = (gzip.decompress(raw) if suffixes[-1:] == [".gz"] else raw).decode("utf-8-sig")
    except (OSError, EOFError, UnicodeDecodeError):
        return None
    reader = csv.reader(text.splitlines(), delimiter="\t" if ".tsv" in suffixes else ",")
    seen = -1  # the header is record -1
    while True:
        start = reader.line_num + 1
        try:
            record = next(reader)
        except (StopIteration, csv.Error):
            return None
        if not any(cell.strip() for cell in record):
            continue
        if seen == row:
            return start
        seen += 1
