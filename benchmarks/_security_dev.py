"""The security_threat dev protocol re-built from a dev run's saved model, for the dev-only probe studies.

fit = 75% of KDDTrain+_20Percent, dev = the other 25% (stratified, seed 0: the recipe's ``--eval-split dev``),
hard = the dev rows with difficulty < 21; ``z_*`` the SSL encoder's embedding (the encoder inside the saved
fusion model), ``raw_*`` the raw baselines' vectors (scaled numerics + one-hot).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from multicl.api import EmbeddingModel
from multicl.data.nsl_kdd_splits import HARD_BELOW, read_difficulty, stratified_dev_split
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
    frame, labels = st.load_split(cfg.train_file, cfg)
    difficulty = read_difficulty(cfg.train_file)
    fit, dev = stratified_dev_split(labels, cfg.dev_fraction, seed=0)  # the recipe's dev split
    _, to_index = st.class_names_for(labels[fit], labels[dev], cfg.normal_label)
    pre = TablePreprocessor(scaling=cfg.scaling, non_numeric=cfg.non_numeric).fit(frame.iloc[fit].reset_index(drop=True))
    fit_table, dev_table = (pre.transform(frame.iloc[rows].reset_index(drop=True)) for rows in (fit, dev))
    # the SSL encoder (inside the saved fusion encoder since --probe-features concat saves [SSL, raw])
    encoder = learned_table_encoder(EmbeddingModel.load(run / "model", device="cpu").encoder)
    return SecurityDev(to_index(labels[fit]), to_index(labels[dev]), difficulty[dev] < HARD_BELOW,
                       encode_table(encoder, fit_table), encode_table(encoder, dev_table),
                       st.raw_features(fit_table, pre.cardinalities), st.raw_features(dev_table, pre.cardinalities))
