"""ExactIndex (reference) and HnswIndex: same interface, similarities out, growth, updates,
save/load checks, recall against exact, add-while-search from threads."""
import threading

import numpy as np
import pytest

from multicl import ExactIndex, HnswIndex


def clustered(n=3000, dim=32, clusters=30, seed=0):
    """Points around cluster centres: neighbourhoods exist, as in real embeddings."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, dim))
    return (centres[rng.integers(0, clusters, n)] + 0.3 * rng.normal(size=(n, dim))).astype(np.float32)


@pytest.mark.parametrize("space", ["cosine", "ip", "l2"])
def test_exact_index_matches_brute_force(space):
    x = clustered(500, 8)
    index = ExactIndex(8, space=space, chunk_size=64)
    index.add(x, np.arange(1000, 1500))
    ids, sims = index.search(x[:20], k=5)
    if space == "cosine":
        xn = x / np.linalg.norm(x, axis=1, keepdims=True)
        full = xn[:20] @ xn.T
    elif space == "ip":
        full = x[:20] @ x.T
    else:
        full = -((x[:20, None, :] - x[None, :, :]) ** 2).sum(-1)
    expected = np.argsort(-full, axis=1)[:, :5] + 1000
    np.testing.assert_array_equal(ids, expected)
    np.testing.assert_allclose(sims, np.take_along_axis(full, expected - 1000, axis=1), rtol=1e-4, atol=1e-4)
    assert (np.diff(sims, axis=1) <= 1e-6).all()  # best first


@pytest.mark.parametrize("space", ["cosine", "ip", "l2"])
def test_hnsw_recall_at_10_against_exact_and_similarities(space):
    x = clustered()
    exact, hnsw = ExactIndex(32, space), HnswIndex(32, space, initial_capacity=100)  # grows 100 -> 3000
    exact.add(x, np.arange(len(x)))
    hnsw.add(x, np.arange(len(x)))
    queries = x[:300] + 0.05
    e_ids, e_sims = exact.search(queries, 10)
    h_ids, h_sims = hnsw.search(queries, 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(e_ids, h_ids)])
    assert recall >= 0.95, recall
    same = h_ids[:, 0] == e_ids[:, 0]
    np.testing.assert_allclose(h_sims[same, 0], e_sims[same, 0], rtol=1e-3, atol=1e-3)  # similarities, not 1 - cos


def test_readding_an_id_updates_its_vector():
    for index in (ExactIndex(2), HnswIndex(2)):
        index.add(np.array([[1.0, 0.0], [0.0, 1.0]]), [7, 8])
        index.add(np.array([[-1.0, 0.0]]), [7])
        assert len(index) == 2
        ids, sims = index.search(np.array([[-1.0, 0.05]]), k=1)
        assert ids[0, 0] == 7 and sims[0, 0] > 0.99


def test_save_load_roundtrip_and_corruption_checks(tmp_path):
    x = clustered(400, 16)
    index = HnswIndex(16)
    index.add(x, np.arange(400))
    index.save(tmp_path / "idx")
    loaded = HnswIndex.load(tmp_path / "idx", dim=16, space="cosine")
    np.testing.assert_array_equal(loaded.search(x[:5], 3)[0], index.search(x[:5], 3)[0])
    with pytest.raises(ValueError, match="dim=16 vectors, expected dim=32"):
        HnswIndex.load(tmp_path / "idx", dim=32)
    with pytest.raises(ValueError, match="space='cosine', expected 'l2'"):
        HnswIndex.load(tmp_path / "idx", space="l2")
    graph = tmp_path / "idx.bin"
    graph.write_bytes(graph.read_bytes()[:-100])
    with pytest.raises(ValueError, match="truncated"):
        HnswIndex.load(tmp_path / "idx")
    exact = ExactIndex(16)
    exact.add(x, np.arange(400))
    exact.save(tmp_path / "ex")
    np.testing.assert_array_equal(ExactIndex.load(tmp_path / "ex").search(x[:5], 3)[0], exact.search(x[:5], 3)[0])
    with pytest.raises(ValueError, match="not 'hnsw'"):
        HnswIndex.load(tmp_path / "ex")


def test_bad_inputs():
    index = HnswIndex(4)
    with pytest.raises(ValueError, match="empty"):
        index.search(np.zeros((1, 4)), 1)
    with pytest.raises(ValueError, match=r"shape \(N, 4\)"):
        index.add(np.zeros((2, 3)), [0, 1])
    with pytest.raises(ValueError, match="NaN"):
        index.add(np.array([[np.nan, 0, 0, 0]]), [0])
    with pytest.raises(ValueError, match="2 ids for 1 vectors"):
        index.add(np.zeros((1, 4)) + 1, [0, 1])
    with pytest.raises(ValueError, match="space"):
        HnswIndex(4, space="hamming")
    index.add(np.eye(4, dtype=np.float32)[:2], [0, 1])
    assert index.search(np.eye(4)[:1], k=10)[0].shape == (1, 2)  # k clamps to the count


def test_add_while_search_from_threads():
    x = clustered(2000, 16)
    index = HnswIndex(16, initial_capacity=64)
    index.add(x[:100], np.arange(100))
    errors = []

    def writer():
        try:
            for start in range(100, 2000, 100):
                index.add(x[start : start + 100], np.arange(start, start + 100))
        except Exception as err:  # pragma: no cover - surfaced below
            errors.append(err)

    def reader():
        try:
            for _ in range(50):
                ids, _ = index.search(x[:10], 5)
                assert (ids >= 0).all()
        except Exception as err:  # pragma: no cover
            errors.append(err)

    threads = [threading.Thread(target=writer)] + [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(index) == 2000
