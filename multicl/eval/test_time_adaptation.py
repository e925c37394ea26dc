"""Test-time adaptation of anomaly detectors to new normal traffic (no labels).

A detector fitted on last month's normal rows flags this month's normal rows when normal traffic
itself drifts (NSL-KDD's test weeks: docs/security.md). One round of adaptation uses the batch
being scored: its lowest-scoring share are taken as pseudo-normal rows and join the normal
reference (kNN detectors) or the training rows (learned detectors), then the batch is scored again.

- :func:`pseudo_normal_rows`: the indices of the ``share`` lowest scores;
- :func:`adapted_knn_scores`: kNN distance to the fit rows plus the pseudo-normal rows, a row
  never its own neighbour.
"""
from __future__ import annotations

import numpy as np

from multicl.eval.anomaly import exact_neighbours


def pseudo_normal_rows(scores: np.ndarray, share: float) -> np.ndarray:
    """Indices (sorted) of the ``round(share * N)`` rows with the lowest ``scores`` (higher = more anomalous);
    ties broken by position, so the choice is deterministic."""
    if not 0 < share < 1:
        raise ValueError(f"the pseudo-normal share must be in (0, 1), got {share}")
    scores = np.asarray(scores, dtype=np.float64)
    take = int(round(share * len(scores)))
    return np.sort(np.argsort(scores, kind="stable")[:take])


def adapted_knn_scores(normal: np.ndarray, queries: np.ndarray, pseudo_rows: np.ndarray, k: int | list[int],
                       space: str = "l2") -> np.ndarray | dict[int, np.ndarray]:
    """Mean distance (squared L2 or 1 - cosine) from each query to its ``k`` nearest rows among ``normal``
    and ``queries[pseudo_rows]``; a query that is itself a pseudo-normal row skips itself (its copies
    elsewhere, if any, still count). Exact search (float64). ``k`` a list -> ``{k: scores}`` from one search."""
    ks = [int(k)] if np.isscalar(k) else sorted({int(x) for x in k})
    top = ks[-1]
    queries = np.asarray(queries)
    pseudo_rows = np.asarray(pseudo_rows, dtype=np.int64)
    _, d_fit = exact_neighbours(normal, queries, top, space)
    if len(pseudo_rows):
        found, d_pseudo = exact_neighbours(queries[pseudo_rows], queries, min(top + 1, len(pseudo_rows)), space)
        is_self = pseudo_rows[found] == np.arange(len(queries))[:, None]
        d_pseudo = np.where(is_self, np.inf, d_pseudo)
        merged = np.sort(np.concatenate([d_fit, d_pseudo], axis=1), axis=1)
    else:
        merged = d_fit
    out = {kk: merged[:, :kk].mean(1) for kk in ks}
    return out[ks[0]] if np.isscalar(k) else out
