"""kNN anomaly distance in a whitened space: raw features and [SSL, raw] of normal traffic (issue 18; rule first).

The rule, written before any run: ``benchmarks/results/anomaly_whitening/RULE.md``. Per seed one Barlow Twins
pre-training (security_threat's SCARF views, encoder and 1,000 steps) on the normal fit rows only; a ZCA whitening
(Ledoit-Wolf covariance; ``multicl/utils/whitening.py``) fitted on the normal fit rows only; then, per scored row, the mean
distance to its k nearest normal fit rows (exact search over the whole batch) in:

* ``raw_k{1,10}``: the scaled raw vectors, squared L2 (the baselines);
* ``wraw_cos_k*`` / ``wraw_l2_k*``: the whitened raw vectors, cosine / squared L2 (controls: whitening without SSL);
* ``join_k*``: ``[unit(z), unit(raw)]`` (security_threat's saved space), cosine (control: SSL without whitening);
* ``wjoin_cos_k*`` / ``wjoin_l2_k*``: that join whitened (the candidates), and each candidate's rank mean with raw 1-NN /
  10-NN (``a+raw_k1``).

Splits as in ``anomaly_candidates.py`` (dev, later_recording: the selection criterion; test: for the record).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/anomaly_whitening.py --eval-split dev --seed 0
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/anomaly_whitening.py --eval-split later_recording --seed 0
    .venv/bin/python benchmarks/anomaly_whitening.py --rank-dev 0 1          # criterion over stored seeds
    .venv/bin/python benchmarks/anomaly_whitening.py --test-table 0 1 2 --detectors raw_k10 wjoin_cos_k10
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from anomaly_candidates import run_study_main, study_tables, write_run  # noqa: E402
from anomaly_ssl_space import train_encoder  # noqa: E402

from multicl.eval.anomaly import knn_anomaly_scores, rank_mean  # noqa: E402
from multicl.utils.whitening import fit_whitening  # noqa: E402
from multicl.modalities.tabular import encode_table  # noqa: E402
from multicl.recipes import security_threat as st  # noqa: E402

KS = (1, 10)
CANDIDATES = tuple(f"wjoin_{space}_k{k}" for space in ("cos", "l2") for k in KS)


def whitened(reference: np.ndarray, queries: dict[str, np.ndarray]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """ZCA whitening fitted on ``reference`` applied to it and to every query set (float32, as the kNN search reads them)."""
    w = fit_whitening(reference)
    return w.apply(reference).astype(np.float32), {n: w.apply(q).astype(np.float32) for n, q in queries.items()}


def run(split: str, seed: int, out: Path) -> str:
    start = time.perf_counter()
    d = study_tables(split, seed)
    pre, train_table, train_x, eval_tables, eval_x = d.pre, d.train_table, d.train_x, d.eval_tables, d.eval_x
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        _, encoder = train_encoder("barlow_twins", train_table, pre, seed, Path(tmp))
        pretrain_seconds = time.perf_counter() - t
    z_train = encode_table(encoder, train_table)
    join_train = st.concat_features(z_train, train_x)
    join_eval = {name: st.concat_features(encode_table(encoder, table), eval_x[name]) for name, (table, _) in eval_tables.items()}
    wraw_train, wraw_eval = whitened(train_x, eval_x)
    wjoin_train, wjoin_eval = whitened(join_train, join_eval)
    scores: dict[str, dict[str, np.ndarray]] = {name: {} for name in eval_x}
    for name in eval_x:
        s = scores[name]
        for k in KS:
            s[f"raw_k{k}"] = knn_anomaly_scores(train_x, eval_x[name], k, space="l2")
            s[f"wraw_cos_k{k}"] = knn_anomaly_scores(wraw_train, wraw_eval[name], k)
            s[f"wraw_l2_k{k}"] = knn_anomaly_scores(wraw_train, wraw_eval[name], k, space="l2")
            s[f"join_k{k}"] = knn_anomaly_scores(join_train, join_eval[name], k)
            s[f"wjoin_cos_k{k}"] = knn_anomaly_scores(wjoin_train, wjoin_eval[name], k)
            s[f"wjoin_l2_k{k}"] = knn_anomaly_scores(wjoin_train, wjoin_eval[name], k, space="l2")
        for c in CANDIDATES:
            for base in ("raw_k1", "raw_k10"):
                s[f"{c}+{base}"] = rank_mean(s[c], s[base])
    footer = (f"seed {seed}, {split}: {len(train_x)} normal fit rows; Barlow Twins pre-training {pretrain_seconds:.0f}s; "
              f"wall {time.perf_counter() - start:.0f}s")
    return write_run(out, f"{split}_seed{seed}", scores, {n: y for n, (_, y) in eval_tables.items()}, footer)


if __name__ == "__main__":
    run_study_main(__doc__, Path("benchmarks/results/anomaly_whitening"), "one Barlow Twins pre-training per seed; raw kNN is deterministic", run, ["raw_k1", "raw_k10"])
