"""Dynamic time warping distances with a Sakoe-Chiba band, in numpy (the classic 1-NN-DTW baseline).

``dtw_distances(a (N, T, C), b (M, U, C), band)`` -> (N, M): the DTW distance (square root of the
summed squared steps along the best warping path) between every pair; the path stays within
``w = max(|T - U|, round(band * max(T, U)))`` steps of the diagonal (the UCR archive's
"DTW with a learned window" uses bands of a few percent; 0.1 is a common fixed choice). One
python loop over the band cells, each cell vectorised over all N x M pairs: cheap for sets of
a few hundred series of a few hundred steps.
"""
from __future__ import annotations

import numpy as np


def dtw_distances(a: np.ndarray, b: np.ndarray, band: float = 0.1) -> np.ndarray:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.ndim == 2:
        a, b = a[..., None], b[..., None]
    t, u = a.shape[1], b.shape[1]
    w = max(abs(t - u), int(round(band * max(t, u))))
    prev = np.full((len(a), len(b), u), np.inf)
    for i in range(t):
        cur = np.full_like(prev, np.inf)
        for j in range(max(0, i - w), min(u, i + w + 1)):
            cost = ((a[:, None, i, :] - b[None, :, j, :]) ** 2).sum(-1)
            if i == 0 and j == 0:
                cur[..., 0] = cost
                continue
            best = prev[..., j]
            if j > 0:
                best = np.minimum(best, np.minimum(prev[..., j - 1], cur[..., j - 1]))
            cur[..., j] = cost + best
        prev = cur
    return np.sqrt(prev[..., u - 1])


def dtw_1nn_predict(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, band: float = 0.1) -> np.ndarray:
    """Each test series takes the label of its DTW-nearest training series."""
    return np.asarray(train_y)[dtw_distances(test_x, train_x, band).argmin(1)]
