"""GOAD (Bergman & Hoshen 2020) beside raw-feature kNN on NSL-KDD dev, the later recording and the test files (issue 18).

One run per (split, seed) trains the recipe's GOAD (``security_anomaly --method goad``: the authors' KDD settings) on
the normal fit rows and scores, over the whole batch with exact search:

* ``raw_k{1,10}``: mean squared-L2 distance to the k nearest normal rows in the scaled raw features;
* ``goad``: GOAD's score; ``goad+raw_k{1,10}``: the rank means;
* with ``--neutral-ad`` (the second rule) also the recipe's NeuTraL-AD trained in the same run: ``neutral_ad``,
  ``neutral_ad+raw_k1`` (the default, which must repeat its stored criterion), ``goad+neutral_ad`` and
  ``goad+neutral_ad+raw_k1``; written to ``<out>/with_neutral_ad/``.

The default's criterion (NeuTraL-AD + raw 1-NN, 99.243) comes from ``benchmarks/anomaly_test_time.py``, scored the same
way; the raw rows here must repeat that script's. The rule: ``benchmarks/results/anomaly_goad/RULE.md``.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/anomaly_goad.py --eval-split dev --seed 0
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/anomaly_goad.py --eval-split later_recording --seed 0
    .venv/bin/python benchmarks/anomaly_goad.py --rank-dev 0 1
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/anomaly_goad.py --eval-split test --seed 0      # after the decision
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/anomaly_goad.py --neutral-ad --eval-split dev --seed 0   # the second rule
    .venv/bin/python benchmarks/anomaly_goad.py --test-table 0 1 2
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from anomaly_candidates import later_recording_data, stored_tables, study_parser, write_run  # noqa: E402

from multicl.data.table_preprocessing import TablePreprocessor  # noqa: E402
from multicl.eval.anomaly import knn_anomaly_scores, rank_mean  # noqa: E402
from multicl.recipes import security_anomaly as sa  # noqa: E402
from multicl.recipes import security_threat as st  # noqa: E402
from multicl.train.goad import goad_scores  # noqa: E402
from multicl.train.neutral_ad import anomaly_scores  # noqa: E402

DETECTORS = ("raw_k1", "raw_k10", "goad", "goad+raw_k1", "goad+raw_k10")
WITH_NEUTRAL_AD = ("neutral_ad", "neutral_ad+raw_k1", "goad+neutral_ad", "goad+neutral_ad+raw_k1")


def run(split: str, seed: int, out: Path, with_neutral_ad: bool = False) -> str:
    start = time.perf_counter()
    cfg = sa.Config(eval_split="dev" if split == "later_recording" else split, seed=seed, device="cpu")
    data = later_recording_data(cfg) if split == "later_recording" else sa.load_data(cfg)
    pre = TablePreprocessor(scaling=cfg.scaling).fit(data.train_frame)
    train_x = st.raw_features(pre.transform(data.train_frame), pre.cardinalities)
    eval_x = {name: (st.raw_features(pre.transform(frame), pre.cardinalities), y) for name, (frame, y) in data.evals.items()}
    t = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:  # the recipe's own training functions, so the models are the recipe's
        model = sa.fit_goad(train_x, cfg, Path(tmp) / "goad")
        train_seconds = time.perf_counter() - t
        neutral = sa.fit_neutral_ad(train_x, cfg, Path(tmp) / "neutral_ad") if with_neutral_ad else None
    scores = {}
    for name, (x, _) in eval_x.items():
        s = {f"raw_k{k}": knn_anomaly_scores(train_x, x, k, space="l2") for k in (1, 10)}
        s["goad"] = goad_scores(model, x)
        for k in (1, 10):
            s[f"goad+raw_k{k}"] = rank_mean(s["goad"], s[f"raw_k{k}"])
        if neutral is not None:
            s["neutral_ad"] = anomaly_scores(neutral, x, cfg.temperature)
            s["neutral_ad+raw_k1"] = rank_mean(s["neutral_ad"], s["raw_k1"])
            s["goad+neutral_ad"] = rank_mean(s["goad"], s["neutral_ad"])
            s["goad+neutral_ad+raw_k1"] = rank_mean(s["goad"], s["neutral_ad"], s["raw_k1"])
        scores[name] = s
    footer = (f"seed {seed}, {split}: {len(train_x)} normal fit rows; GOAD training {train_seconds:.0f}s; "
              f"wall {time.perf_counter() - start:.0f}s; torch threads {torch.get_num_threads()}")
    return write_run(out, f"{split}_seed{seed}", scores, {n: y for n, (_, y) in eval_x.items()}, footer)


def main() -> None:
    parser = study_parser(__doc__.split("\n\n")[0], Path("benchmarks/results/anomaly_goad"))
    parser.add_argument("--neutral-ad", action="store_true", help="also train the recipe's NeuTraL-AD (the second rule); out: <out>/with_neutral_ad")
    args = parser.parse_args()
    if args.neutral_ad:
        args.out = args.out / "with_neutral_ad"
    text = stored_tables(args, list(DETECTORS) + (list(WITH_NEUTRAL_AD) if args.neutral_ad else []),
                         "one GOAD (and NeuTraL-AD) run per seed; raw kNN is deterministic")
    if text is None:
        if args.eval_split is None:
            parser.error("--eval-split is required (or --rank-dev / --test-table)")
        text = run(args.eval_split, args.seed, args.out, args.neutral_ad)
    print(text)

if __name__ == "__main__":
    main()
