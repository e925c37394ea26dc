"""The security_threat dev protocol re-built from a dev run's saved model, for the dev-only probe studies.

fit = 75% of KDDTrain+_20Percent, dev = the other 25% (stratified, seed 0: the recipe's ``--eval-split dev``),
hard = the dev rows with difficulty < 21; ``z_*`` the SSL encoder's embedding (the encoder inside the saved
fusion model), ``raw_*`` the raw baselines' vectors (scaled numerics + one-hot).
"""
from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from sklearn.metrics import f1_score

from multicl.api import EmbeddingModel
from multicl.data.table_preprocessing import TablePreprocessor
from multicl.encoders.tabular_fusion import learned_table_encoder
from multicl.eval.anomaly import detection_scores, knn_anomaly_scores
from multicl.eval.probe import knn_predict, linear_predict
from multicl.modalities.tabular import encode_table
from multicl.recipes import security_threat as st


@dataclass
class SecurityDev:
    y_fit: np.ndarray
    y_dev: np.ndarray
    hard: np.ndarray  # dev rows with difficulty < 21
    z_fit: np.ndarray
    z_dev: np.ndarray
    raw_fit: np.ndarray
    raw_dev: np.ndarray


def load_security_dev(run: Path) -> SecurityDev:
    """``run``: a ``security_threat --eval-split dev`` out dir (its ``model/`` is embedded)."""
    cfg = st.Config(eval_split="dev")
    fit_frame, fit_labels, dev_frame, dev_labels, hard = st.load_splits(cfg)  # the recipe's own dev split
    _, to_index = st.class_names_for(fit_labels, dev_labels, cfg.normal_label)
    pre = TablePreprocessor(scaling=cfg.scaling, non_numeric=cfg.non_numeric).fit(fit_frame)
    fit_table, dev_table = pre.transform(fit_frame), pre.transform(dev_frame)
    # the SSL encoder (inside the saved fusion encoder since --probe-features concat saves [SSL, raw])
    encoder = learned_table_encoder(EmbeddingModel.load(run / "model", device="cpu").encoder)
    return SecurityDev(to_index(fit_labels), to_index(dev_labels), hard,
                       encode_table(encoder, fit_table), encode_table(encoder, dev_table),
                       st.raw_features(fit_table, pre.cardinalities), st.raw_features(dev_table, pre.cardinalities))


def study_parser(description: str, out: Path) -> argparse.ArgumentParser:
    """The flags every dev study shares: one run's scores (``--run``, ``--seed``) or the table over saved seeds (``--rank``)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--run", type=Path, help="a security_threat --eval-split dev out dir")
    parser.add_argument("--seed", type=int, help="that run's --seed (label draws use seed + draw, as the recipe)")
    parser.add_argument("--rank", type=int, nargs="+", help="render the table over these seeds' saved results instead")
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.01, 0.05, 0.1, 1.0])
    parser.add_argument("--draws", type=int, default=5)
    parser.add_argument("--knn-k", type=int, default=st.Config().knn_k)
    parser.add_argument("--out", type=Path, default=out)
    return parser


def run_study(parser: argparse.ArgumentParser, args: argparse.Namespace, score: Callable[[], dict], render: Callable[[list[dict]], str]) -> None:
    """``--rank``: ``render`` the saved ``dev_seed<S>.json`` files into ``dev_ranking.md``; else ``score()`` one run
    into ``dev_seed<S>.json`` / ``.md``. Prints the table."""
    args.out.mkdir(parents=True, exist_ok=True)
    if args.rank:
        text = render([json.loads((args.out / f"dev_seed{s}.json").read_text()) for s in args.rank])
        (args.out / "dev_ranking.md").write_text(text)
    else:
        if args.run is None or args.seed is None:
            parser.error("give --run and --seed, or --rank")
        result = score()
        (args.out / f"dev_seed{args.seed}.json").write_text(json.dumps(result, indent=1))
        text = render([result])
        (args.out / f"dev_seed{args.seed}.md").write_text(text)
    print(text)


def macro_f1(y, pred, hard) -> list[float]:
    return [100 * f1_score(y, pred, average="macro"), 100 * f1_score(y[hard], pred[hard], average="macro")]


def score_spaces(data: SecurityDev, spaces: dict[str, tuple[np.ndarray, np.ndarray]], seed: int, fractions, draws: int, k: int) -> dict:
    """Every ``{name: (fit rows, dev rows)}`` space scored as the recipe scores its saved space: kNN (cosine,
    distance-weighted, ``k``) and linear probes at each label fraction (``draws`` draws below 100%, seeds ``seed + draw``),
    category macro-F1 on dev and hard dev; step 5's anomaly score (cosine 10-NN to the normal fit rows), and the raw
    features' squared-L2 10-NN beside -> ``{"knn"|"linear": {name: {fraction: [[dev, hard], ...]}}, "anomaly": {name: {...}}}``."""
    y_fit, y_dev, hard = data.y_fit, data.y_dev, data.hard
    result: dict = {"knn": {}, "linear": {}, "anomaly": {}}
    normal = y_fit == 0
    for name, (a, b) in spaces.items():
        knn, linear = {}, {}
        for fraction in fractions:
            knn_values, linear_values = [], []
            for draw in range(draws if fraction < 1 else 1):
                rows = st.few_label_rows(y_fit, fraction, seed + draw)
                knn_values.append(macro_f1(y_dev, knn_predict(a[rows], y_fit[rows], b, k, weights="distance"), hard))
                linear_values.append(macro_f1(y_dev, linear_predict(a[rows], y_fit[rows], b, max_iter=2000, seed=seed + draw), hard))
            knn[f"{fraction:g}"], linear[f"{fraction:g}"] = knn_values, linear_values
            print(f"{name} {fraction:g}: kNN {np.mean(knn_values, 0).round(2)} linear {np.mean(linear_values, 0).round(2)}", flush=True)
        result["knn"][name], result["linear"][name] = knn, linear
        scores = knn_anomaly_scores(a[normal], b, 10)
        result["anomaly"][name] = {**detection_scores(scores, y_dev > 0, prefix="dev"), **detection_scores(scores[hard], y_dev[hard] > 0, prefix="hard")}
    l2 = knn_anomaly_scores(data.raw_fit[normal], data.raw_dev, 10, space="l2")
    result["anomaly"]["raw features alone, squared L2"] = {**detection_scores(l2, y_dev > 0, prefix="dev"),
                                                           **detection_scores(l2[hard], y_dev[hard] > 0, prefix="hard")}
    return result


def fraction_study_main(doc: str, out: Path, score_run: Callable[..., dict], render: Callable[[list[dict]], str]) -> None:
    """The command line of a dev study whose ``score_run(run, seed, fractions, draws, knn_k)`` scores one run."""
    parser = study_parser(doc.split("\n\n")[0], out)
    args = parser.parse_args()
    run_study(parser, args, lambda: score_run(args.run, args.seed, args.fractions, args.draws, args.knn_k), render)
