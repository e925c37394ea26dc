"""Search over unique vectors, expanded back to every copy: the same answer as a search over all."""
import numpy as np
import torch

from multicl.negatives.ann_index import exact_topk
from multicl.negatives.dedup import expand_groups, unique_vectors


def test_expand_groups_matches_a_naive_expansion():
    rng = np.random.default_rng(0)
    base = torch.from_numpy(rng.normal(size=(30, 6)).astype(np.float32))
    z = base[torch.from_numpy(rng.integers(0, 30, size=200))]  # heavy duplication
    z = torch.nn.functional.normalize(z, dim=1)
    unique, inverse = unique_vectors(z)
    assert torch.equal(unique[inverse], z)
    u_rows, u_sims = exact_topk(unique, unique, 5)
    rows, sims = expand_groups(u_rows, u_sims, inverse, k=12)
    members = {u: [i for i in range(200) if inverse[i] == u] for u in range(len(unique))}
    for q in range(len(unique)):
        expected = [m for u in u_rows[q].tolist() for m in members[u]][:12]
        assert rows[q, : len(expected)].tolist() == expected
        assert (rows[q, len(expected):] == -1).all()
        np.testing.assert_allclose(sims[q, : len(expected)].numpy(), (z[expected] @ unique[q]).numpy(), atol=1e-5)


def test_exact_search_through_unique_rows_equals_search_over_all_by_similarity():
    rng = np.random.default_rng(1)
    base = torch.from_numpy(rng.normal(size=(50, 8)).astype(np.float32))
    z = torch.nn.functional.normalize(base[torch.from_numpy(rng.integers(0, 50, size=300))], dim=1)
    unique, inverse = unique_vectors(z)
    u_rows, u_sims = exact_topk(unique, unique, 10)
    rows, sims = expand_groups(u_rows, u_sims, inverse, k=10)
    full_rows, full_sims = exact_topk(z, z, 10)
    np.testing.assert_allclose(sims[inverse].numpy(), full_sims.numpy(), atol=1e-5)  # same similarities, ties aside
