"""kNN anomaly scores against a brute-force oracle, with repeated reference rows (as in KDD99)."""
import numpy as np
import pytest

import multicl.eval.anomaly as anomaly
from multicl.eval.anomaly import knn_anomaly_scores


def brute_force(normal: np.ndarray, queries: np.ndarray, k: int, space: str) -> np.ndarray:
    if space == "l2":
        d = ((queries[:, None, :] - normal[None, :, :]) ** 2).sum(-1)
    else:
        a = queries / np.linalg.norm(queries, axis=1, keepdims=True)
        b = normal / np.linalg.norm(normal, axis=1, keepdims=True)
        d = 1.0 - a @ b.T
    return np.sort(d, axis=1)[:, : min(k, len(normal))].mean(1)


@pytest.mark.parametrize("search", ["exact", "hnsw"])
@pytest.mark.parametrize("space", ["l2", "cosine"])
@pytest.mark.parametrize("k", [1, 3, 10])
def test_scores_match_brute_force_with_repeated_rows(space, k, search, monkeypatch):
    if search == "hnsw":  # past the exact budget: the graph over the distinct rows
        monkeypatch.setattr(anomaly, "EXACT_PAIRS", 0)
    rng = np.random.default_rng(0)
    distinct = rng.normal(size=(40, 5)).astype(np.float32)
    normal = distinct[rng.integers(0, 40, size=300)]  # every row repeated several times, unevenly
    queries = np.concatenate([rng.normal(size=(25, 5)), normal[:5], normal[:5]]).astype(np.float32)
    got = knn_anomaly_scores(normal, queries, k, space=space)
    np.testing.assert_allclose(got, brute_force(normal, queries, k, space), rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(got, knn_anomaly_scores(normal, queries, k, space=space))  # the same graph every run


def test_fewer_rows_than_k_average_over_all_rows():
    normal = np.array([[0.0, 0.0], [0.0, 0.0], [1.0, 0.0]], dtype=np.float32)
    got = knn_anomaly_scores(normal, np.array([[0.0, 0.0]], dtype=np.float32), k=10, space="l2")
    np.testing.assert_allclose(got, [1.0 / 3.0], rtol=1e-6)
