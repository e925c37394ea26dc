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

from multicl.api import EmbeddingModel
from multicl.data.table_preprocessing import TablePreprocessor
from multicl.encoders.tabular_fusion import learned_table_encoder
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
