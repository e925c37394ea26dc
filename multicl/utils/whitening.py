"""Whitening of an embedding space, fitted on training rows (ZCA with a shrunk covariance).

Image retrieval whitens self-supervised features before cosine search (PCA-whitening learned on a training set:
Jégou & Chum, ECCV 2012; DINO's copy-detection protocol), and sentence embeddings gain from it too (Su et al. 2021,
"BERT-whitening"): a few correlated, high-variance directions otherwise decide every cosine. With few training rows
the sample covariance is singular, so it is shrunk towards a scaled identity by the Ledoit-Wolf rule (no parameter).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.covariance import LedoitWolf


@dataclass(frozen=True)
class Whitening:
    """``apply(x) = (x - mean) @ matrix``. ``matrix`` = ``V diag(lambda ** -power) V^T`` of the fitted (shrunk)
    covariance: ``power`` 0.5 whitens fully, 0.25 half-way (eigenvalue spread square-rooted), 0 only centres."""
    mean: np.ndarray  # (D,)
    matrix: np.ndarray  # (D, D), symmetric
    power: float
    shrinkage: float  # the Ledoit-Wolf weight of the identity target (0: the sample covariance)

    def apply(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.mean.shape[0]:
            raise ValueError(f"whitening was fitted on {self.mean.shape[0]}-d rows; got shape {x.shape}")
        return (x - self.mean) @ self.matrix

    def save(self, path: str | Path) -> None:
        """One ``.npz`` file (mean, matrix, power, shrinkage); :meth:`load` reads it back."""
        np.savez(Path(path), mean=self.mean, matrix=self.matrix, power=self.power, shrinkage=self.shrinkage)

    @classmethod
    def load(cls, path: str | Path) -> "Whitening":
        with np.load(Path(path)) as f:
            if not {"mean", "matrix", "power", "shrinkage"} <= set(f.files):
                raise ValueError(f"{path} is not a saved Whitening (arrays: {sorted(f.files)})")
            return cls(mean=f["mean"], matrix=f["matrix"], power=float(f["power"]), shrinkage=float(f["shrinkage"]))


def fit_whitening(x: np.ndarray, power: float = 0.5, shrink: bool = True) -> Whitening:
    """Fit on ``x`` (N, D) training rows. ``shrink``: Ledoit-Wolf covariance (always positive definite); otherwise the
    sample covariance, which must then be non-singular (an error says so). Eigenvalues are floored at 1e-12 x the
    largest so that constant coordinates do not blow up."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or len(x) < 2:
        raise ValueError(f"whitening needs a 2-D array of at least 2 rows; got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("whitening rows hold NaN or inf")
    if not 0 <= power <= 0.5:
        raise ValueError(f"power must be in [0, 0.5] (0.5: full whitening); got {power}")
    mean = x.mean(axis=0)
    if shrink:
        estimate = LedoitWolf(assume_centered=False).fit(x)
        cov, weight = estimate.covariance_, float(estimate.shrinkage_)
    else:
        cov, weight = np.cov(x, rowvar=False, bias=True).reshape(x.shape[1], x.shape[1]), 0.0
    values, vectors = np.linalg.eigh((cov + cov.T) / 2)
    top = max(float(values.max()), 1e-300)
    if not shrink and values.min() <= 1e-12 * top and power > 0:
        raise ValueError(f"the sample covariance of {len(x)} rows in {x.shape[1]} dimensions is singular; use shrink=True")
    values = np.clip(values, 1e-12 * top, None)
    matrix = (vectors * values ** -power) @ vectors.T
    return Whitening(mean=mean, matrix=matrix, power=float(power), shrinkage=weight)
