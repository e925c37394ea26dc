"""Test-time adaptation of kNN anomaly scores: against a loop written from the definition."""
import numpy as np
import pytest

from multicl.eval.test_time_adaptation import adapted_knn_scores, pseudo_normal_rows


def loop_scores(normal, queries, pseudo, k, space):
    reference = np.concatenate([normal, queries[pseudo]])
    out = []
    for i, q in enumerate(queries):
        if space == "l2":
            d = ((reference - q) ** 2).sum(1)
        else:
            d = 1 - reference @ q / (np.linalg.norm(reference, axis=1) * np.linalg.norm(q))
        d[len(normal):][pseudo == i] = np.inf  # never its own neighbour
        out.append(np.sort(d)[:k].mean())
    return np.array(out)


@pytest.mark.parametrize("space", ["l2", "cosine"])
def test_adapted_knn_matches_loop(space):
    rng = np.random.default_rng(0)
    normal, queries = rng.normal(size=(40, 5)), rng.normal(size=(25, 5)) + 0.5
    pseudo = np.array([0, 3, 4, 11, 24])
    got = adapted_knn_scores(normal, queries, pseudo, [1, 4], space=space)
    for k in (1, 4):
        np.testing.assert_allclose(got[k], loop_scores(normal, queries, pseudo, k, space), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(adapted_knn_scores(normal, queries, pseudo, 4, space=space), got[4])


def test_no_pseudo_rows_is_plain_knn_and_copies_still_count():
    rng = np.random.default_rng(1)
    normal = rng.normal(size=(30, 3))
    queries = rng.normal(size=(6, 3)) + 5.0
    queries[1] = queries[0]  # a copy of a pseudo-normal row is a neighbour at distance 0
    plain = adapted_knn_scores(normal, queries, np.zeros(0, np.int64), 2)
    expected = np.array([np.sort(((normal - q) ** 2).sum(1))[:2].mean() for q in queries])
    np.testing.assert_allclose(plain, expected, rtol=1e-5)
    adapted = adapted_knn_scores(normal, queries, np.array([0]), 1)
    assert adapted[1] == pytest.approx(0.0, abs=1e-6)           # row 1 finds row 0
    assert adapted[0] == pytest.approx(np.sort(((normal - queries[0]) ** 2).sum(1))[0], rel=1e-5)  # row 0 skips itself


def test_pseudo_normal_rows():
    scores = np.array([3.0, 1.0, 2.0, 0.0, 5.0, 1.0])
    assert pseudo_normal_rows(scores, 0.5).tolist() == [1, 3, 5]  # ties: the earlier row first
    with pytest.raises(ValueError, match="share"):
        pseudo_normal_rows(scores, 1.0)
