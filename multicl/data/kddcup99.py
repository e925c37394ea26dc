"""KDD Cup 99 (10% file, 494,021 records) and the anomaly-detection protocols built on it.

The file is read by :func:`multicl.data.nsl_kdd.read_connection_records` (same 41 features; the
label ends in '.'). Two protocols from the literature (Zong et al. 2018, DAGMM; Bergman & Hoshen
2020, GOAD; Qiu et al. 2021, NeuTraL-AD), as GOAD's data loader draws them:

- ``kdd``: attacks are 80% of the file, so *normal* traffic is the anomaly class. Train on a
  random half of the attack rows; test on the other half plus every normal row (97,278).
- ``kddrev``: normal traffic is the normal class. 24,319 attack rows are drawn at random (a
  quarter of the 97,278 normal rows: 20% of normal + drawn attacks over the whole file); train on
  a random half of the normal rows; test on the other half (48,639) plus the drawn attacks, which
  are thus 1/3 of the test rows.

F1 is taken at the known anomaly ratio of the test set (the threshold is the score percentile
of the normal share), as those papers do.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from multicl.utils.paths import shared_data_dir

PROTOCOLS = ("kdd", "kddrev")
KDDREV_ATTACKS = 24319  # GOAD / NeuTraL-AD: round(97,278 / 4)


def default_path() -> str:
    return str(shared_data_dir() / "security" / "kddcup99" / "kddcup.data_10_percent.gz")


@dataclass(frozen=True)
class ProtocolSplit:
    """Row indices into the file: ``train`` (all of the protocol's normal class) and ``test``;
    ``test_is_anomaly`` (bool, one per test row)."""

    train: np.ndarray
    test: np.ndarray
    test_is_anomaly: np.ndarray


def protocol_split(is_normal_traffic: np.ndarray, protocol: str, seed: int) -> ProtocolSplit:
    """The ``kdd`` / ``kddrev`` split of rows flagged ``is_normal_traffic`` (label 'normal'), drawn with ``seed``."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")
    is_normal_traffic = np.asarray(is_normal_traffic, dtype=bool)
    rng = np.random.default_rng(seed)
    normal, attack = np.flatnonzero(is_normal_traffic), np.flatnonzero(~is_normal_traffic)
    if protocol == "kdd":  # the majority (attacks) is the protocol's normal class
        inliers, outliers = attack, normal
    else:
        if len(attack) < KDDREV_ATTACKS:
            raise ValueError(f"kddrev draws {KDDREV_ATTACKS} attack rows; the file has {len(attack)} (use the full 10% file)")
        inliers, outliers = normal, rng.choice(attack, size=KDDREV_ATTACKS, replace=False)
    order = rng.permutation(inliers)
    half = len(order) // 2
    test = np.concatenate([order[half:], np.sort(outliers)])
    return ProtocolSplit(np.sort(order[:half]), test, np.r_[np.zeros(len(order) - half, bool), np.ones(len(outliers), bool)])


def later_recording_split(is_normal_traffic: np.ndarray, record_keys: np.ndarray, fit_share: float = 0.6) -> ProtocolSplit:
    """A dev split with a shift in time, from the 10% file's own order (it is close to recording order:
    494,021 rows hold only 534 runs of one label). ``train``: the distinct normal rows among the first
    ``fit_share`` of the normal rows; ``test``: the distinct rows after the last of those (normal rows
    and attacks of a later part of the recording). Duplicates are dropped as NSL-KDD drops them
    (``record_keys``: one key per row, equal for equal records, e.g. ``pandas.util.hash_pandas_object(frame,
    index=False)``), keeping each record's first row."""
    if not 0 < fit_share < 1:
        raise ValueError(f"fit_share must be in (0, 1), got {fit_share}")
    is_normal_traffic = np.asarray(is_normal_traffic, dtype=bool)
    normal = np.flatnonzero(is_normal_traffic)
    cut = normal[int(len(normal) * fit_share) - 1] + 1  # rows before it are the earlier recording
    _, first = np.unique(np.asarray(record_keys), return_index=True)
    distinct = np.zeros(len(is_normal_traffic), bool)
    distinct[first] = True
    train = np.flatnonzero(distinct[:cut] & is_normal_traffic[:cut])
    test = cut + np.flatnonzero(distinct[cut:])
    return ProtocolSplit(train, test, ~is_normal_traffic[test])
