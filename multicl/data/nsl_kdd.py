"""NSL-KDD / KDD Cup 99 connection records: reader, attack categories, feature matrix.

Files are CSV without a header: 41 features (3 symbolic: protocol_type, service, flag), the
label (KDD99 adds a trailing '.') and, for NSL-KDD, a difficulty score. Get NSL-KDD from the
University of New Brunswick's CIC dataset page (Tavallaee et al. 2009).
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from multicl.errors import UserInputError

from multicl.data.text_files import read_text

FEATURES = (
    "duration protocol_type service flag src_bytes dst_bytes land wrong_fragment urgent hot "
    "num_failed_logins logged_in num_compromised root_shell su_attempted num_root num_file_creations "
    "num_shells num_access_files num_outbound_cmds is_host_login is_guest_login count srv_count "
    "serror_rate srv_serror_rate rerror_rate srv_rerror_rate same_srv_rate diff_srv_rate "
    "srv_diff_host_rate dst_host_count dst_host_srv_count dst_host_same_srv_rate dst_host_diff_srv_rate "
    "dst_host_same_src_port_rate dst_host_srv_diff_host_rate dst_host_serror_rate dst_host_srv_serror_rate "
    "dst_host_rerror_rate dst_host_srv_rerror_rate"
).split()
SYMBOLIC = ("protocol_type", "service", "flag")
CATEGORIES = ("normal", "dos", "probe", "r2l", "u2r")

# Attack name -> category. NSL-KDD's test file holds attacks absent from training (apache2,
# mscan, ...); they are mapped as in the dataset's documentation (Tavallaee et al. 2009).
ATTACK_CATEGORY = {
    "normal": "normal",
    **{a: "dos" for a in "apache2 back land mailbomb neptune pod processtable smurf teardrop udpstorm worm".split()},
    **{a: "probe" for a in "ipsweep mscan nmap portsweep saint satan".split()},
    **{a: "r2l" for a in ("ftp_write guess_passwd httptunnel imap multihop named phf sendmail snmpgetattack "
                          "snmpguess spy warezclient warezmaster xlock xsnoop").split()},
    **{a: "u2r" for a in "buffer_overflow loadmodule perl ps rootkit sqlattack xterm".split()},
}


@dataclass(frozen=True)
class ConnectionRecords:
    numeric: np.ndarray  # (N, 38) float64
    symbolic: list[tuple[str, str, str]]  # protocol_type, service, flag
    attack: list[str]  # raw label, e.g. "neptune"

    @property
    def category(self) -> np.ndarray:
        """Index into CATEGORIES per record; unknown attack names raise."""
        unknown = sorted({a for a in self.attack if a not in ATTACK_CATEGORY})
        if unknown:
            raise ValueError(f"attack names without a category: {unknown[:10]}; extend ATTACK_CATEGORY")
        return np.array([CATEGORIES.index(ATTACK_CATEGORY[a]) for a in self.attack])

    def to_frame(self):
        """A pandas DataFrame with the 41 named feature columns and ``attack`` (the raw label)."""
        import pandas as pd

        numeric_names = [n for n in FEATURES if n not in SYMBOLIC]
        frame = pd.DataFrame(self.numeric, columns=numeric_names)
        for j, name in enumerate(SYMBOLIC):
            frame[name] = [r[j] for r in self.symbolic]
        frame["attack"] = self.attack
        return frame[[*FEATURES, "attack"]]

    @property
    def is_attack(self) -> np.ndarray:
        return np.array([a != "normal" for a in self.attack], dtype=np.int64)


def read_connection_records(path: str | Path, non_numeric: str = "error") -> ConnectionRecords:
    """Read an NSL-KDD or KDD99 file; a wrong column count or a non-numeric value names the line
    and the column. ``non_numeric="nan"`` reads such a cell as missing (imputed downstream) instead."""
    if non_numeric not in ("error", "nan"):
        raise ValueError(f"non_numeric must be 'error' or 'nan', got {non_numeric!r}")
    rows = list(csv.reader(read_text(path).splitlines()))
    rows = [r for r in rows if r]
    if not rows:
        raise ValueError(f"{path} is empty")
    numeric_index = [i for i, name in enumerate(FEATURES) if name not in SYMBOLIC]
    symbolic_index = [FEATURES.index(name) for name in SYMBOLIC]
    numeric = np.empty((len(rows), len(numeric_index)))
    symbolic, attack = [], []
    for line, row in enumerate(rows, start=1):
        if len(row) not in (42, 43):
            raise ValueError(f"{path} line {line}: expected 41 features + label (+ difficulty), found {len(row)} fields")
        try:
            numeric[line - 1] = [float(row[i]) for i in numeric_index]
        except ValueError:
            numeric[line - 1] = [_number(path, line, FEATURES[i], row[i], non_numeric) for i in numeric_index]
        symbolic.append(tuple(row[i] for i in symbolic_index))
        attack.append(row[41].strip().rstrip("."))
    bad_cells = np.isinf(numeric) if non_numeric == "nan" else ~np.isfinite(numeric)
    if bad_cells.any():
        bad = int(np.argwhere(bad_cells)[0][0]) + 1
        raise ValueError(f"{path} line {bad}: NaN or inf in a numeric column")
    return ConnectionRecords(numeric, symbolic, attack)


def _number(path: str | Path, line: int, column: str, value: str, non_numeric: str) -> float:
    try:
        return float(value)
    except ValueError:
        if non_numeric == "nan":
            return float("nan")
        raise UserInputError(
            f"{path} line {line}, numeric column {column!r}: {value!r} is not a number; fix the cell, or pass "
            f"--non-numeric nan (read_connection_records(non_numeric='nan')) to impute such cells"
        ) from None


class ConnectionFeaturizer:
    """Fit on training records only: log1p + standardisation of numerics (heavy-tailed byte
    counts), one-hot symbolic fields with an out-of-vocabulary column per field."""

    def fit(self, records: ConnectionRecords) -> "ConnectionFeaturizer":
        logged = np.log1p(np.clip(records.numeric, 0, None))
        self.mean = logged.mean(0)
        self.std = logged.std(0)
        self.std[self.std < 1e-8] = 1.0
        self.vocab = [sorted({r[j] for r in records.symbolic}) for j in range(len(SYMBOLIC))]
        return self

    def transform(self, records: ConnectionRecords) -> np.ndarray:
        numeric = (np.log1p(np.clip(records.numeric, 0, None)) - self.mean) / self.std
        blocks = [numeric.astype(np.float32)]
        for j, vocab in enumerate(self.vocab):
            index = {v: i for i, v in enumerate(vocab)}
            onehot = np.zeros((len(records.symbolic), len(vocab) + 1), dtype=np.float32)
            onehot[np.arange(len(records.symbolic)), [index.get(r[j], len(vocab)) for r in records.symbolic]] = 1.0
            blocks.append(onehot)
        return np.concatenate(blocks, axis=1)
