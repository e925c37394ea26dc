"""Semantic textual similarity: Spearman (x100) of cosine similarity vs gold scores."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from scipy.stats import pearsonr, spearmanr

from multicl.data.text_files import ScoredPair, read_sts

EncodeFn = Callable[[list[str]], np.ndarray]


class STSEvaluator:
    """``evaluator(encode) -> {"spearman_cosine": ..., "pearson_cosine": ...}`` (both x100).

    ``encode`` maps a list of texts to an (N, D) array; pass a fake one in tests.
    Keys get ``name + "_"`` as a prefix when ``name`` is set (e.g. ``stsb_dev_spearman_cosine``).
    """

    def __init__(self, pairs: Sequence[ScoredPair], name: str = "") -> None:
        if len(pairs) < 2:
            raise ValueError("an STS evaluation needs at least 2 scored pairs")
        self.pairs = list(pairs)
        self.name = name
        self.primary_metric = self._key("spearman_cosine")

    @classmethod
    def from_file(cls, path: str | Path, name: str = "") -> "STSEvaluator":
        return cls(read_sts(path), name=name)

    def _key(self, metric: str) -> str:
        return f"{self.name}_{metric}" if self.name else metric

    def __call__(self, encode: EncodeFn) -> dict[str, float]:
        texts = list(dict.fromkeys([p.sentence1 for p in self.pairs] + [p.sentence2 for p in self.pairs]))
        index = {t: i for i, t in enumerate(texts)}
        emb = np.asarray(encode(texts), dtype=np.float64)
        if emb.shape[0] != len(texts):
            raise ValueError(f"encode returned {emb.shape[0]} rows for {len(texts)} texts")
        emb /= np.clip(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12, None)
        a = emb[[index[p.sentence1] for p in self.pairs]]
        b = emb[[index[p.sentence2] for p in self.pairs]]
        cos = (a * b).sum(axis=1)
        gold = np.array([p.score for p in self.pairs])
        return {
            self._key("spearman_cosine"): float(spearmanr(cos, gold).statistic * 100),
            self._key("pearson_cosine"): float(pearsonr(cos, gold).statistic * 100),
        }


class CombinedEvaluator:
    """Runs several evaluators on one ``encode`` and merges their results."""

    def __init__(self, evaluators: Sequence[STSEvaluator], primary_metric: str | None = None) -> None:
        if not evaluators:
            raise ValueError("CombinedEvaluator needs at least one evaluator")
        self.evaluators = list(evaluators)
        self.primary_metric = primary_metric or self.evaluators[0].primary_metric

    def __call__(self, encode: EncodeFn) -> dict[str, float]:
        out: dict[str, float] = {}
        for evaluator in self.evaluators:
            out.update(evaluator(encode))
        return out
