"""EmbeddingIndex stores identical vectors once: results equal a naive search over every copy
(ties between copies in id order), through adds that replace vectors, save/load, and hnswlib."""
import json

import numpy as np
import pytest

from multicl import EmbeddingIndex
from multicl.models.index import group_rows


def id_key(i):
    return (0, i, "") if isinstance(i, int) else (1, 0, i)


def naive_search(vectors: dict, queries: np.ndarray, k: int):
    """Every copy scored (float64 cosine), best first, equal scores in id order."""
    ids = sorted(vectors, key=id_key)
    x = np.stack([vectors[i] for i in ids]).astype(np.float64)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    q = queries.astype(np.float64) / np.linalg.norm(queries, axis=1, keepdims=True)
    scores = np.round(q @ x.T, 9)
    out_ids, out_scores = [], []
    for row in scores:
        order = sorted(range(len(ids)), key=lambda j: (-row[j], j))[:k]  # ids are sorted: j order is id order
        out_ids.append([ids[j] for j in order])
        out_scores.append(row[order])
    return out_ids, np.array(out_scores)


def duplicated_corpus(rng, distinct=60, n=400, dim=8, heavy=150):
    base = rng.standard_normal((distinct, dim)).astype(np.float32)
    which = np.concatenate([np.arange(distinct), np.zeros(heavy, int), rng.integers(0, distinct, n - distinct - heavy)])
    rng.shuffle(which)
    return base, base[which]


def check_equal(index: EmbeddingIndex, vectors: dict, queries: np.ndarray, k: int):
    ids, scores = index.search(queries, k=k)
    want_ids, want_scores = naive_search(vectors, queries, k)
    assert ids.tolist() == want_ids
    np.testing.assert_allclose(scores, want_scores, atol=1e-5)


def test_group_rows_is_exact_and_in_first_appearance_order():
    x = np.array([[1, 2], [3, 4], [1, 2], [0, 0], [3, 4], [-0.0, 0]], dtype=np.float32) + np.float32(0)
    first, inverse = group_rows(x)
    assert first.tolist() == [0, 1, 3] and inverse.tolist() == [0, 1, 0, 2, 1, 2]
    np.testing.assert_array_equal(x[first[inverse]], x)


@pytest.mark.parametrize("string_ids", [False, True])
def test_exact_search_equals_naive_search_over_every_copy(string_ids):
    rng = np.random.default_rng(0)
    base, x = duplicated_corpus(rng)
    ids = rng.permutation(10_000)[: len(x)].tolist()  # ids not in row order: ties must come out in id order
    if string_ids:
        ids = [f"r{i:05d}" for i in ids]
    index = EmbeddingIndex(8, backend="exact")
    index.add(x, ids=ids)
    assert len(index) == 400 and index.distinct == 60 and len(index._engine) == 60
    queries = np.concatenate([base[:5], rng.standard_normal((20, 8)).astype(np.float32), base[:5]])  # repeated queries too
    check_equal(index, dict(zip(ids, x)), queries, k=10)
    check_equal(index, dict(zip(ids, x)), queries[:3], k=400)  # every row
    top, _ = index.search(base[:1], k=160)  # the heavy vector: 150+ copies share the top places, in id order
    assert top[0].tolist()[:150] == sorted(top[0].tolist()[:150], key=id_key)


def test_replacing_ids_keeps_the_tables_right():
    rng = np.random.default_rng(1)
    base, x = duplicated_corpus(rng, distinct=30, n=200, heavy=50)
    index = EmbeddingIndex(8, backend="exact")
    index.add(x)
    vectors = dict(enumerate(x))
    queries = np.concatenate([base[:4], rng.standard_normal((10, 8)).astype(np.float32)])
    # move every copy of vector 0 (the heavy one) elsewhere: its slot becomes unused, then is taken by a new vector
    heavy = [i for i in vectors if np.array_equal(vectors[i], base[0])]
    index.add(np.repeat(base[1:2], len(heavy), axis=0), ids=heavy)
    vectors.update({i: base[1] for i in heavy})
    assert index.distinct == 29 and len(index._unused) == 1
    check_equal(index, vectors, queries, k=12)
    fresh = rng.standard_normal((3, 8)).astype(np.float32)
    index.add(fresh, ids=[heavy[0], 1000, 1001])  # a replaced id and two new ids
    vectors.update({heavy[0]: fresh[0], 1000: fresh[1], 1001: fresh[2]})
    assert index.distinct == 32 and len(index._engine) == 32 and not index._unused  # one reused the unused slot
    check_equal(index, vectors, np.concatenate([queries, fresh]), k=12)
    index.add(base[:1], ids=[5000])  # the old heavy vector returns under a new id
    vectors[5000] = base[0]
    check_equal(index, vectors, queries, k=12)
    assert sum(index._counts) == len(index) == len(vectors)


def test_save_load_keeps_the_dedup(tmp_path):
    rng = np.random.default_rng(2)
    base, x = duplicated_corpus(rng)
    index = EmbeddingIndex(8, backend="exact")
    index.add(x)
    index.add(base[3:4], ids=[7])  # one replacement before saving
    index.save(tmp_path / "index")
    again = EmbeddingIndex.load(tmp_path / "index")
    assert (again.distinct, len(again), len(again._engine)) == (index.distinct, len(index), len(index._engine))
    queries = rng.standard_normal((15, 8)).astype(np.float32)
    for a, b in zip(index.search(queries, k=20), again.search(queries, k=20)):
        np.testing.assert_array_equal(a, b)
    again.add(np.repeat(base[:2], 3, axis=0), ids=list(range(1000, 1006)))  # known vectors: no new backend rows
    assert again.distinct == index.distinct and len(again._engine) == len(index._engine)
    meta = json.loads((tmp_path / "index" / "index.json").read_text())
    meta["distinct_slots"] += 1
    (tmp_path / "index" / "index.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="truncated or overwritten"):
        EmbeddingIndex.load(tmp_path / "index")


def test_first_format_folders_still_load(tmp_path):
    x = np.random.default_rng(3).standard_normal((30, 8)).astype(np.float32)
    index = EmbeddingIndex(8, backend="exact")
    index.add(x, ids=list(range(100, 130)))
    index.save(tmp_path / "index")
    meta = json.loads((tmp_path / "index" / "index.json").read_text())
    meta["format"] = 1
    del meta["distinct_slots"]
    (tmp_path / "index" / "index.json").write_text(json.dumps(meta))
    (tmp_path / "index" / "dedup.npz").unlink()
    old = EmbeddingIndex.load(tmp_path / "index")
    assert old.search(x[:5], k=1)[0][:, 0].tolist() == list(range(100, 105))
    old.add(x[:1], ids=[999])  # the same vector (as the exact backend stored it, normalised): may or may not dedup, never wrong
    assert set(old.search(x[:1], k=2)[0][0].tolist()) == {100, 999}


def test_hnsw_recall_on_a_duplicated_corpus():
    """Copies at distance 0 wreck an HNSW graph; stored once they do not."""
    rng = np.random.default_rng(4)
    centres = rng.standard_normal((20, 16)).astype(np.float32)
    base = (centres[rng.integers(0, 20, 3000)] + 0.3 * rng.standard_normal((3000, 16))).astype(np.float32)
    which = np.concatenate([np.arange(3000), np.zeros(6000, int), rng.integers(0, 3000, 6000)])
    x = base[which]
    exact = EmbeddingIndex(16, backend="exact")
    exact.add(x)
    graph = EmbeddingIndex(16, backend="hnsw", num_threads=1, ef=32)
    graph.add(x)
    assert graph.distinct == 3000 and len(graph._engine) == 3000
    queries = x[rng.choice(len(x), 500, replace=False)]
    want_ids, want_scores = exact.search(queries, k=10)
    got_ids, got_scores = graph.search(queries, k=10)
    tie_aware = (got_scores >= want_scores[:, -1:] - 1e-5).mean()  # any id at least as close as the exact 10th
    same_ids = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(got_ids.tolist(), want_ids.tolist())])
    assert tie_aware >= 0.97 and same_ids >= 0.95
    # the copies of the heavy vector come back in id order from both backends
    assert graph.search(base[:1], k=10)[0].tolist() == exact.search(base[:1], k=10)[0].tolist()
