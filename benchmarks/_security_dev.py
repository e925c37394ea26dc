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
