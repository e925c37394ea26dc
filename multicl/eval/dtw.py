"""Dynamic time warping distances with a Sakoe-Chiba band, in numpy (the classic 1-NN-DTW baseline).

``dtw_distances(a (N, T, C), b (M, U, C), band)`` -> (N, M): the DTW distance (square root of the
summed squared steps along the best warping path) between every pair; the path stays within
``w = max(|T - U|, round(band * max(T, U)))`` steps of the diagonal (the UCR archive's
"DTW with a learned window" uses bands of a few percent; 0.1 is a common fixed choice). One
python loop over the band cells, each cell vectorised over a chunk of pairs; memory holds the band only
(N x M x (2w + 2) cells per chunk, not N x M x U): cheap for sets of a few hundred series of a few hundred
steps, slow (minutes) but within memory for ~1,500-step series.
"""
from __future__ import annotations

import numpy as np
from tqdm.auto import tqdm


def band_width(t: int, u: int, band: float) -> int:
    """The half-width ``w`` of the Sakoe-Chiba band between lengths ``t`` and ``u``."""
    return max(abs(t - u), int(round(band * max(t, u))))


def dtw_cell_count(n: int, m: int, t: int, u: int, band: float) -> int:
    """How many band cells :func:`dtw_distances` fills for (n, t) x (m, u) series: its cost (numpy does
    a few hundred million per second per core), to decide before starting whether it is affordable."""
    return n * m * t * (2 * band_width(t, u, band) + 1)


def dtw_distances(a: np.ndarray, b: np.ndarray, band: float = 0.1, max_cells: int = 1 << 24, progress: bool = False) -> np.ndarray:
    """``a`` (N, T, C) or (N, T), ``b`` (M, U, C) or (M, U) -> (N, M) DTW distances within the band.

    Only the band is stored: ``2w + 2`` cells per pair (not ``U``), and rows of ``a`` go in chunks of at most
    ``max_cells`` (pair x band) float64 cells (128 MiB by default), so long series (UCR sets of ~1,500 steps)
    fit in memory; the result does not depend on ``max_cells``."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.ndim == 2:
        a, b = a[..., None], b[..., None]
    t, u = a.shape[1], b.shape[1]
    w = band_width(t, u, band)
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    rows = max(1, max_cells // max(1, len(b) * (2 * w + 2)))
    starts = range(0, len(a), rows)
    bar = tqdm(starts, desc="DTW 1-NN", unit="chunk", disable=not progress or len(starts) < 2, dynamic_ncols=True)
    return np.concatenate([_banded_dtw(a[i:i + rows], b, w) for i in bar], axis=0)


def _banded_dtw(a: np.ndarray, b: np.ndarray, w: int) -> np.ndarray:
    # band coordinates: cell (i, j) is slot k = j - i + w of row i, so (i-1, j) is slot k+1 of the previous row,
    # (i-1, j-1) slot k, (i, j-1) slot k-1 of this row; slot 2w+1 stays inf (the edge of the band)
    t, u = a.shape[1], b.shape[1]
    prev = np.full((2 * w + 2, len(a), len(b)), np.inf)
    cur = np.empty_like(prev)
    for i in range(t):
        cur.fill(np.inf)
        for j in range(max(0, i - w), min(u, i + w + 1)):
            k = j - i + w
            cost = ((a[:, None, i, :] - b[None, :, j, :]) ** 2).sum(-1)
            if i == 0 and j == 0:
                cur[k] = cost
                continue
            best = np.minimum(prev[k + 1], prev[k])
            if k > 0:
                best = np.minimum(best, cur[k - 1])
            cur[k] = cost + best
        prev, cur = cur, prev
    return np.sqrt(prev[u - 1 - (t - 1) + w])


def dtw_1nn_predict(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, band: float = 0.1, progress: bool = False) -> np.ndarray:
    """Each test series takes the label of its DTW-nearest training series."""
    return np.asarray(train_y)[dtw_distances(test_x, train_x, band, progress=progress).argmin(1)]
