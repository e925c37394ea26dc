"""Test-time adaptation to new normal traffic: NSL-KDD dev, the later recording, NSL-KDD test (issue 18).

The rule, written before any run: ``benchmarks/results/anomaly_test_time/RULE.md``. Per ``--eval-split`` and
seed, one NeuTraL-AD model (the recipe's defaults) and the recipe's preprocessing; every detector scores the
whole batch (dev: all dev rows, the hard dev subset read from them; test: KDDTest+, KDDTest-21 read from it;
later_recording: the KDD Cup 99 10% file split in time), then, for each pseudo-normal share ``q``:

* ``raw_k{k}@q``: raw kNN (squared L2) with the batch's ``q`` lowest-scoring rows (by its own first score)
  added to the normal reference (:func:`multicl.eval.test_time_adaptation.adapted_knn_scores`);
* ``neutral@q``: NeuTraL-AD trained 500 more steps on the fit rows plus its own pseudo-normal rows;
* ``neutral+raw_k{k}@q``: the rank mean, both parts adapted with the pseudo-normal rows of the rank mean's first score.

Writes ``<out>/<split>_seed<seed>.{npz,md}`` (the layout :mod:`anomaly_candidates` reads).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/anomaly_test_time.py --eval-split dev --seed 0
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/anomaly_test_time.py --eval-split later_recording --seed 0
    .venv/bin/python benchmarks/anomaly_test_time.py --rank-dev 0 1       # the rule's criterion over stored seeds
    .venv/bin/python benchmarks/anomaly_test_time.py --test-table 0 1 2 --detectors ...
"""
from __future__ import annotations

import copy
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from multicl.data.nsl_kdd_splits import HARD_BELOW, read_difficulty, stratified_dev_split
from multicl.data.table_preprocessing import TablePreprocessor
from multicl.eval.anomaly import rank_mean
from multicl.eval.test_time_adaptation import adapted_knn_scores, pseudo_normal_rows
from multicl.recipes import security_anomaly as sa
from multicl.recipes.security_threat import load_split, raw_features
from multicl.train.neutral_ad import NeuTraLADModel, anomaly_scores, train_neutral_ad

sys.path.insert(0, str(Path(__file__).resolve().parent))
from anomaly_candidates import later_recording_data, stored_tables, study_parser, write_run  # noqa: E402

KS = (1, 10)
SHARES = (0.1, 0.25)
ADAPT_STEPS = 500


def batches(cfg: sa.Config, split: str) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray, dict[str, np.ndarray]]:
    """(normal fit frame, scored frame, is_anomaly of the scored rows, {subset: row mask}) for the split."""
    if split == "later_recording":
        data = later_recording_data(cfg)
        frame, y = data.evals["later"]
        return data.train_frame, frame, y, {"later": np.ones(len(y), bool)}
    train_frame, labels = load_split(cfg.train_file, cfg)
    if split == "dev":
        fit, dev = stratified_dev_split(labels, cfg.dev_fraction, seed=0)  # the recipe's dev split
        hard = read_difficulty(cfg.train_file)[dev] < HARD_BELOW
        keep = fit[labels[fit] == cfg.normal_label]
        return (train_frame.iloc[keep].reset_index(drop=True), train_frame.iloc[dev].reset_index(drop=True),
                labels[dev] != cfg.normal_label, {"dev": np.ones(len(dev), bool), "dev_hard": hard})
    test_frame, test_labels = load_split(cfg.test_file, cfg)
    hard = read_difficulty(cfg.test_file) < HARD_BELOW
    return (train_frame.iloc[np.flatnonzero(labels == cfg.normal_label)].reset_index(drop=True), test_frame,
            test_labels != cfg.normal_label, {"test": np.ones(len(test_labels), bool), "test_hard": hard})


def adapted_neutral(model: NeuTraLADModel, fit_x: np.ndarray, pseudo_x: np.ndarray, cfg: sa.Config, tmp: Path) -> NeuTraLADModel:
    """A copy of ``model`` trained ``ADAPT_STEPS`` more steps of its own loss on the fit rows plus ``pseudo_x``."""
    torch.manual_seed(cfg.seed)
    tuned, _ = train_neutral_ad(copy.deepcopy(model), np.concatenate([fit_x, pseudo_x]), tmp, ADAPT_STEPS, cfg.batch_size,
                                cfg.learning_rate, cfg.temperature, cfg.seed, device="cpu", overwrite=True)
    return tuned


def main() -> None:
    parser = study_parser(__doc__.split("\n\n")[0], Path("benchmarks/results/anomaly_test_time"),
                          detectors=["raw_k1", "raw_k10", "neutral", "neutral+raw_k1"])
    args = parser.parse_args()
    text = stored_tables(args, args.detectors, "one NeuTraL-AD run per seed; raw kNN is deterministic; KDDTest-21 read from the scores of all of KDDTest+")
    if text is not None:
        print(text)
        return
    if args.eval_split is None:
        parser.error("--eval-split is required (or --rank-dev / --test-table)")
    start = time.perf_counter()
    cfg = sa.Config(eval_split="dev" if args.eval_split != "test" else "test", seed=args.seed, device="cpu")
    fit_frame, frame, y, subsets = batches(cfg, args.eval_split)
    pre = TablePreprocessor(scaling=cfg.scaling).fit(fit_frame)
    fit_x = raw_features(pre.transform(fit_frame), pre.cardinalities)
    x = raw_features(pre.transform(frame), pre.cardinalities)
    torch.manual_seed(cfg.seed)
    model = NeuTraLADModel(fit_x.shape[1], num_transforms=cfg.num_transforms, transform_kind=cfg.transform_kind, embed_dim=cfg.embed_dim)
    s: dict[str, np.ndarray] = {}
    with tempfile.TemporaryDirectory() as tmp:
        model, _ = train_neutral_ad(model, fit_x, Path(tmp) / "nad", cfg.steps, cfg.batch_size, cfg.learning_rate, cfg.temperature,
                                    cfg.seed, device="cpu", overwrite=True)
        s |= {f"raw_k{k}": v for k, v in adapted_knn_scores(fit_x, x, np.zeros(0, np.int64), list(KS)).items()}
        s["neutral"] = anomaly_scores(model, x, cfg.temperature)
        for k in KS:
            s[f"neutral+raw_k{k}"] = rank_mean(s["neutral"], s[f"raw_k{k}"])
        print(f"first round scored ({time.perf_counter() - start:.0f}s)", flush=True)
        for q in SHARES:
            for k in KS:
                s[f"raw_k{k}@{q}"] = adapted_knn_scores(fit_x, x, pseudo_normal_rows(s[f"raw_k{k}"], q), k)
            tuned = adapted_neutral(model, fit_x, x[pseudo_normal_rows(s["neutral"], q)], cfg, Path(tmp) / f"own{q}")
            s[f"neutral@{q}"] = anomaly_scores(tuned, x, cfg.temperature)
            for k in KS:
                pseudo = pseudo_normal_rows(s[f"neutral+raw_k{k}"], q)
                tuned = adapted_neutral(model, fit_x, x[pseudo], cfg, Path(tmp) / f"joint{k}_{q}")
                s[f"neutral+raw_k{k}@{q}"] = rank_mean(anomaly_scores(tuned, x, cfg.temperature), adapted_knn_scores(fit_x, x, pseudo, k))
            print(f"share {q} done ({time.perf_counter() - start:.0f}s)", flush=True)
    scores = {name: {d: v[mask] for d, v in s.items()} for name, mask in subsets.items()}
    footer = (f"seed {args.seed}, {args.eval_split}: {len(fit_x)} normal fit rows, {len(x)} scored rows (anomaly share {np.mean(y):.3f}); "
              f"pseudo-normal shares {SHARES}, NeuTraL-AD adapted {ADAPT_STEPS} steps; wall {time.perf_counter() - start:.0f}s")
    print(write_run(args.out, f"{args.eval_split}_seed{args.seed}", scores, {n: y[m] for n, m in subsets.items()}, footer))


if __name__ == "__main__":
    main()
