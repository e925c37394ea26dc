"""The candidate embedding spaces of a trained TS2Vec model, and the saved encoder of each (``--select-space``).

Candidates (``CANDIDATES``, simplest first: the order breaks ties in :func:`multicl.eval.space_selection.select_space`):

* ``saved``: TS2Vec's instance embedding as it comes out (max over time);
* ``z``: that embedding z-scored with the training series' mean / population std (unit rows);
* ``w0.25`` ... ``w2``: ``[unit(z), w * unit(raw)]``, raw = each series standardised by the adapter and resampled to
  the longest training series (what the raw 1-NN baseline compares), ``SeriesRawFusionEncoder`` at weight ``w``.

:func:`candidate_rows` computes every candidate from one TS2Vec embedding and one raw block (no re-encoding), and
:func:`space_encoder` builds the module that encodes the chosen one from raw input (equal to 1e-5, tested).
"""
from __future__ import annotations

import numpy as np
import torch

from multicl.encoders.series_fusion import SeriesRawFusionEncoder
from multicl.encoders.ts2vec import TS2VecEncoder
from multicl.eval.probe import unit_rows
from multicl.recipes._sequence_eval import resample

WEIGHTS = (0.25, 0.5, 1.0, 2.0)
CANDIDATES = ("saved", "z", *(f"w{w:g}" for w in WEIGHTS))


def raw_weight(name: str) -> float | None:
    """A candidate's raw-block weight: None for ``saved`` (no z-scoring either), 0 for ``z``, w for ``w<w>``."""
    if name not in CANDIDATES:
        raise ValueError(f"unknown embedding space {name!r}; one of {', '.join(CANDIDATES)}")
    return None if name == "saved" else 0.0 if name == "z" else float(name[1:])


def raw_rows(series: list[np.ndarray], center: np.ndarray, scale: np.ndarray, length: int) -> np.ndarray:
    """(N, length * C): each (T, C) series standardised by ``center`` / ``scale``, resampled to ``length`` steps, flattened."""
    return np.stack([resample((np.asarray(s, np.float64) - center) / scale, length).reshape(-1) for s in series])


def candidate_rows(saved: np.ndarray, raw: np.ndarray, mean: np.ndarray, std: np.ndarray) -> dict[str, np.ndarray]:
    """``{candidate: (N, D) rows}`` from TS2Vec's embeddings ``saved`` and the raw block ``raw`` of the same N series;
    ``mean`` / ``std``: the training series' embedding statistics (population std, floored at 1e-6 as the encoder's)."""
    z = unit_rows((np.asarray(saved, np.float64) - mean) / np.clip(std, 1e-6, None))
    r = unit_rows(np.asarray(raw, np.float64))
    return {"saved": np.asarray(saved), "z": z} | {f"w{w:g}": np.concatenate([z, w * r], 1) for w in WEIGHTS}


def space_encoder(name: str, encoder: TS2VecEncoder, length: int, train_embeddings: np.ndarray) -> torch.nn.Module:
    """The module that encodes candidate ``name`` from the adapter's inputs: ``encoder`` itself for ``saved``, else a
    ``SeriesRawFusionEncoder`` around a copy of it (raw block of ``length`` steps; mu / sigma from ``train_embeddings``)."""
    weight = raw_weight(name)
    if weight is None:
        return encoder
    return SeriesRawFusionEncoder.wrap(encoder, length, weight).fit_statistics(train_embeddings).eval()
