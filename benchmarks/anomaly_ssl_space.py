"""kNN anomaly distance in self-supervised embeddings of normal traffic, alone and joined with the raw features (issue 18).

The NSL-KDD anomaly default (NeuTraL-AD + raw 1-NN) is below raw-feature kNN on KDDTest+ / KDDTest-21, and the old
``ssl_knn`` baseline (SCARF + InfoNCE, the security_threat default of the time) was the weakest row (88.1 AUROC).
InfoNCE spreads the normal rows uniformly over the sphere, which erases the density a kNN distance reads; Barlow
Twins and VICReg, which won the classification study (docs/security.md), do not push rows apart. Per method (the
security_threat recipe's SCARF views, encoder and 1,000 steps; trained on the normal fit rows only) one run scores:

* ``raw_k{1,10}``: mean squared-L2 distance to the k nearest normal rows in the scaled raw features (the baselines);
* ``{method}_k{1,10}``: cosine kNN distance in the method's embedding (``random`` is the same encoder untrained);
* ``{method}_join_k{1,10}``: squared-L2 kNN in ``[raw, s * unit(z)]``, ``s`` fixed so that both blocks have the same
  mean squared distance between random pairs of normal rows (equal weight, no parameter to tune);
* rank means of each of these with raw 1-NN / 10-NN (``a+b``). NeuTraL-AD is not retrained here: the recipe's
  default (NeuTraL-AD + raw 1-NN) has its criterion from ``benchmarks/anomaly_candidates.py`` (99.230), and the raw
  rows here must reproduce that script's (the same rows, the same exact search).

Splits as in ``anomaly_candidates.py`` (dev, later_recording: the selection criterion; test: reported once).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/anomaly_ssl_space.py --eval-split dev --seed 0
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/anomaly_ssl_space.py --eval-split later_recording --seed 0
    .venv/bin/python benchmarks/anomaly_ssl_space.py --rank-dev 0 1          # criterion over stored seeds
    .venv/bin/python benchmarks/anomaly_ssl_space.py --test-table 0 1 2 --detectors raw_k10 barlow_twins_join_k10
"""
from __future__ import annotations

import itertools
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from anomaly_candidates import run_study_main, study_tables, write_run  # noqa: E402

from multicl.data.table_preprocessing import TablePreprocessor  # noqa: E402
from multicl.eval.anomaly import knn_anomaly_scores, rank_mean  # noqa: E402
from multicl.eval.probe import unit_rows  # noqa: E402
from multicl.modalities.tabular import encode_table  # noqa: E402
from multicl.recipes import security_threat as st  # noqa: E402

METHODS = ("info_nce", "barlow_twins", "vicreg")
KS = (1, 10)


def equal_weight_scale(raw: np.ndarray, z: np.ndarray, pairs: int = 4000, seed: int = 0) -> float:
    """``s`` with mean ||raw_i - raw_j||^2 == s^2 mean ||z_i - z_j||^2 over random pairs of rows (``z`` unit rows)."""
    rng = np.random.default_rng(seed)
    i, j = rng.integers(0, len(raw), pairs), rng.integers(0, len(raw), pairs)
    raw_d = np.mean(np.sum((raw[i] - raw[j]) ** 2, axis=1))
    z_d = np.mean(np.sum((z[i] - z[j]) ** 2, axis=1))
    return float(np.sqrt(raw_d / max(z_d, 1e-12)))


def joined(raw: np.ndarray, z: np.ndarray, scale: float) -> np.ndarray:
    return np.concatenate([raw, scale * unit_rows(z)], axis=1).astype(np.float32)


def train_encoder(method: str, table, pre: TablePreprocessor, seed: int, tmp: Path) -> tuple[torch.nn.Module, torch.nn.Module]:
    """(random-init, trained) encoders of security_threat's pre-training with ``method`` on the normal rows ``table``."""
    torch.manual_seed(seed)
    _, random_encoder, encoder, _ = st.pretrained_encoders(table, pre, st.Config(method=method, seed=seed, device="cpu"), tmp / method)
    return random_encoder, encoder


def run(split: str, seed: int, out: Path) -> str:
    start = time.perf_counter()
    d = study_tables(split, seed)
    pre, train_table, train_x, eval_tables, eval_x = d.pre, d.train_table, d.train_x, d.eval_tables, d.eval_x
    scores: dict[str, dict[str, np.ndarray]] = {name: {f"raw_k{k}": knn_anomaly_scores(train_x, x, k, space="l2") for k in KS}
                                                 for name, x in eval_x.items()}
    seconds = {}
    with tempfile.TemporaryDirectory() as tmp:
        for method in METHODS:
            t = time.perf_counter()
            random_encoder, encoder = train_encoder(method, train_table, pre, seed, Path(tmp))
            seconds[method] = time.perf_counter() - t
            spaces = {method: encoder} if method != METHODS[0] else {"random": random_encoder, method: encoder}
            for label, enc in spaces.items():
                z_train = encode_table(enc, train_table)
                scale = equal_weight_scale(train_x, unit_rows(z_train), seed=seed)
                ref_join = joined(train_x, z_train, scale)
                for name, (table, _) in eval_tables.items():
                    z = encode_table(enc, table)
                    for k in KS:
                        scores[name][f"{label}_k{k}"] = knn_anomaly_scores(z_train, z, k)
                        scores[name][f"{label}_join_k{k}"] = knn_anomaly_scores(ref_join, joined(eval_x[name], z, scale), k, space="l2")
    for name, s in scores.items():
        base = [d for d in s if not d.startswith("raw_")]
        for a, b in itertools.product(base, ("raw_k1", "raw_k10")):
            s[f"{a}+{b}"] = rank_mean(s[a], s[b])
    timing = ", ".join(f"{m} {s:.0f}s" for m, s in seconds.items())
    footer = f"seed {seed}, {split}: {len(train_x)} normal fit rows; pre-training {timing}; wall {time.perf_counter() - start:.0f}s"
    text = write_run(out, f"{split}_seed{seed}", scores, {n: y for n, (_, y) in eval_tables.items()}, footer)
    return text


if __name__ == "__main__":
    run_study_main(__doc__, Path("benchmarks/results/anomaly_ssl_space"), "one pre-training per method and seed; raw kNN is deterministic", run, ["raw_k1", "raw_k10"])
