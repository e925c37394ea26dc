"""Graphs: typed inputs (node offsets), views, sampler, k-hop false negatives, GRACE / CCA-SSG
objectives, the Planetoid reader and the bad-input policy. No PyG needed here (see
tests/test_graph_encoders.py for the encoders and training)."""
from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from multicl.data.graph_sampler import CSRGraph, NeighbourSampler
from multicl.data.planetoid import GraphData, GraphInputPolicy, check_graph, load_planetoid, planetoid_raw_dir
from multicl.modalities.graph import GraphAdapter, GraphInputs, NodeView
from multicl.modalities.views_dataset import ViewsDataset
from multicl.negatives.graph_neighbours import KHopNeighbourPolicy, k_hop_pairs
from multicl.objectives import NON_CONTRASTIVE, build_objective
from multicl.views.graph import Compose, DropEdges, DropNodes, MaskFeatures, PerturbEdges, PPRDiffusion, Subgraph, ppr_matrix


def ring(n: int, f: int = 4, seed: int = 0) -> GraphData:
    src = torch.arange(n)
    dst = (src + 1) % n
    edge_index = torch.cat([torch.stack([src, dst]), torch.stack([dst, src])], dim=1)
    return GraphData(torch.randn(n, f, generator=torch.Generator().manual_seed(seed)), edge_index)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# -- inputs -----------------------------------------------------------------------------------------
def test_cat_shifts_node_offsets_and_select_renumbers_graphs():
    a, b = ring(3), ring(5)
    parts = [GraphInputs(g.x, g.edge_index, torch.zeros(g.num_nodes, dtype=torch.long), 1) for g in (a, b, a)]
    both = GraphInputs.cat(parts)
    assert both.num_rows == 3 and both.num_nodes == 11 and both.batch.tolist() == [0] * 3 + [1] * 5 + [2] * 3
    assert int(both.edge_index[:, 6:16].min()) == 3 and int(both.edge_index[:, 16:].min()) == 8  # shifted by 3, then 8
    picked = both.select([1])
    torch.testing.assert_close(picked.x, b.x)
    assert torch.equal(picked.edge_index, b.edge_index) and picked.num_graphs == 1 and picked.batch.eq(0).all()
    swapped = both.select([2, 0])
    assert swapped.num_rows == 2 and sorted(swapped.batch.tolist()) == [0, 0, 0, 1, 1, 1]


def test_node_level_cat_shifts_targets_and_select_keeps_the_graph():
    g = ring(6)
    one = GraphInputs(g.x, g.edge_index, torch.zeros(6, dtype=torch.long), 1, torch.tensor([4, 1]))
    two = GraphInputs.cat([one, one])
    assert two.num_rows == 4 and two.targets.tolist() == [4, 1, 10, 7] and two.num_graphs == 2
    sub = two.select([3])
    assert sub.num_rows == 1 and sub.targets.tolist() == [7] and sub.num_nodes == 12
    with pytest.raises(ValueError, match="node-level and graph-level"):
        GraphInputs.cat([one, GraphInputs(g.x, g.edge_index, torch.zeros(6, dtype=torch.long), 1)])
    assert set(two) == {"x", "edge_index", "batch", "targets"}


# -- views ------------------------------------------------------------------------------------------
def test_views_are_seeded_and_do_what_they_say():
    g = ring(200, f=50)
    x, ei, w = DropEdges(0.3)(g.x, g.edge_index, None, gen())
    assert 0.6 < ei.shape[1] / g.num_edges < 0.8 and w is None
    x2, ei2, _ = DropEdges(0.3)(g.x, g.edge_index, None, gen())
    assert torch.equal(ei, ei2)  # same seed, same view
    xm, _, _ = MaskFeatures(0.5)(g.x, g.edge_index, None, gen())
    zero_cols = (xm == 0).all(0)
    assert 10 < int(zero_cols.sum()) < 40 and torch.equal(xm[:, ~zero_cols], g.x[:, ~zero_cols])  # whole columns
    xd, eid, _ = DropNodes(0.5, relabel=False)(g.x, g.edge_index, None, gen())
    assert xd.shape == g.x.shape and eid.max() < 200
    xr, eir, _ = DropNodes(0.5, relabel=True)(g.x, g.edge_index, None, gen())
    assert 70 < xr.shape[0] < 130 and (eir.max() < xr.shape[0] if eir.numel() else True)
    xs, eis, _ = Subgraph(0.3)(g.x, g.edge_index, None, gen())
    assert xs.shape[0] == 60 and eis.shape[1] >= 2 * 59  # a ring segment of 60 nodes is connected
    _, eip, _ = PerturbEdges(0.2)(g.x, g.edge_index, None, gen())
    assert eip.shape[1] == g.num_edges
    composed = Compose([DropEdges(0.3), MaskFeatures(0.5)])(g.x, g.edge_index, None, gen())
    assert composed[1].shape[1] < g.num_edges
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        DropEdges(1.0)


def test_ppr_diffusion_matches_the_closed_form_and_is_cached():
    g = ring(12)
    s = ppr_matrix(g.edge_index, 12, alpha=0.2)
    a = torch.zeros(12, 12)
    a[g.edge_index[0], g.edge_index[1]] = 1
    a += torch.eye(12)
    d = a.sum(1).rsqrt()
    torch.testing.assert_close(s @ (torch.eye(12) - 0.8 * d[:, None] * a * d[None, :]), 0.2 * torch.eye(12), atol=1e-5, rtol=0)
    view = PPRDiffusion(alpha=0.2, top_k=5)
    _, ei, w = view(g.x, g.edge_index, None, gen())
    assert ei.shape == (2, 60) and w.shape == (60,) and (w > 0).all()
    assert view(g.x, g.edge_index, None, gen(1))[1] is ei  # cached
    with pytest.raises(ValueError, match="dense PPR"):
        ppr_matrix(g.edge_index, 20_000)


# -- adapter ----------------------------------------------------------------------------------------
def test_node_adapter_augments_the_batch_once_per_side_reproducibly():
    g = ring(30)
    adapter = GraphAdapter("node", g, view_a=DropEdges(0.5), view_b=MaskFeatures(0.5))
    ds = ViewsDataset(list(range(30)), adapter, seed=1)
    batch = adapter.collate([ds[i] for i in range(10)])
    again = adapter.collate([ds[i] for i in range(10)])
    a, p = batch.anchors.inputs, batch.positives.inputs
    assert a.num_rows == p.num_rows == 10 and a.targets.tolist() == list(range(10))
    assert a.edge_index.shape[1] < g.num_edges and p.edge_index.shape[1] == g.num_edges  # side a drops edges, b masks
    assert torch.equal(a.edge_index, again.anchors.inputs.edge_index)
    assert batch.anchors.meta["node_id"].tolist() == list(range(10))
    with pytest.raises(ValueError, match="relabel=False"):
        GraphAdapter("node", g, view_a=DropNodes(0.5, relabel=True)).views_to_inputs([NodeView(0, 0, 1, 2), NodeView(1, 0, 1, 3)])


def test_sampled_node_adapter_shares_the_sample_between_sides():
    g = ring(100)
    adapter = GraphAdapter("node", g, view_a=DropEdges(0.0), view_b=DropEdges(0.0), sampler_fanouts=(2, 2))
    ds = ViewsDataset(list(range(100)), adapter)
    batch = adapter.collate([ds[i] for i in (3, 50)])
    a, p = batch.anchors.inputs, batch.positives.inputs
    assert torch.equal(a.x, p.x) and torch.equal(a.edge_index, p.edge_index)
    assert a.num_nodes == 10 and a.targets.tolist() == [0, 1]  # 2 seeds + 2x2 hop-1 + 2x2 new hop-2 nodes on a ring


def test_graph_level_adapter_views_each_graph():
    graphs = [ring(5 + i) for i in range(6)]
    adapter = GraphAdapter("graph", graphs=graphs, view_a=DropNodes(0.3), view_b=Subgraph(0.6))
    ds = ViewsDataset(list(range(6)), adapter)
    batch = adapter.collate([ds[i] for i in range(4)])
    assert batch.anchors.inputs.num_rows == 4 and batch.anchors.inputs.targets is None
    assert batch.positives.inputs.num_nodes == sum(round(0.6 * (5 + i)) for i in range(4))


# -- sampler ----------------------------------------------------------------------------------------
def test_sampler_respects_fanouts_and_samples_real_edges():
    rng = np.random.default_rng(0)
    n = 500
    edge_index = torch.from_numpy(rng.integers(0, n, (2, 5000)))
    sampler = NeighbourSampler(CSRGraph.from_edge_index(edge_index, n), fanouts=(5, 3))
    sub = sampler.sample(torch.tensor([7, 3, 99]), gen())
    assert sub.nodes[:3].tolist() == [7, 3, 99] and sub.targets.tolist() == [0, 1, 2]
    real = set(map(tuple, edge_index.T.tolist()))
    src, dst = sub.nodes[sub.edge_index[0]], sub.nodes[sub.edge_index[1]]
    assert all((int(s), int(d)) in real for s, d in zip(src, dst))
    first_hop = sub.edge_index[:, sub.edge_index[1] < 3]
    assert torch.bincount(first_hop[1], minlength=3).max() <= 5
    full = NeighbourSampler(CSRGraph.from_edge_index(edge_index, n), fanouts=(-1,)).sample(torch.tensor([7]))
    assert sorted(full.nodes[1:].tolist()) == sorted(set(edge_index[0][edge_index[1] == 7].tolist()) - {7})
    with pytest.raises(ValueError, match="distinct"):
        sampler.sample(torch.tensor([1, 1]))


# -- false negatives --------------------------------------------------------------------------------
def test_k_hop_policy_masks_neighbours_only():
    g = ring(10)
    assert len(k_hop_pairs(g.edge_index, 10, 1)) == 20 and len(k_hop_pairs(g.edge_index, 10, 2)) == 40
    policy = KHopNeighbourPolicy.from_graph(g.edge_index, 10, k=2)
    meta = {"instance_id": torch.arange(10), "node_id": torch.arange(10)}
    neg, dropped = policy.negative_mask(meta, meta, torch.eye(10, dtype=torch.bool))
    expected = torch.tensor([[min(abs(i - j), 10 - abs(i - j)) > 2 for j in range(10)] for i in range(10)])
    assert torch.equal(neg, expected) and dropped["k_hop"] == 40
    with pytest.raises(ValueError, match="node_id"):
        policy.negative_mask({"instance_id": torch.arange(3)}, {"instance_id": torch.arange(3)}, torch.eye(3, dtype=torch.bool))


# -- objectives -------------------------------------------------------------------------------------
def naive_grace(u: torch.Tensor, v: torch.Tensor, t: float) -> torch.Tensor:
    """GRACE's paper formula, one anchor at a time."""
    u, v = torch.nn.functional.normalize(u, dim=1), torch.nn.functional.normalize(v, dim=1)

    def side(a, b):
        total = 0.0
        for i in range(len(a)):
            pos = torch.exp(a[i] @ b[i] / t)
            inter = torch.exp(a[i] @ b.T / t).sum()
            intra = torch.exp(a[i] @ a.T / t).sum() - torch.exp(a[i] @ a[i] / t)
            total = total - torch.log(pos / (inter + intra))
        return total / len(a)

    return 0.5 * (side(u, v) + side(v, u))


def test_grace_matches_the_paper_loop_nt_xent_and_its_chunked_form():
    torch.manual_seed(0)
    u, v = torch.randn(9, 5, requires_grad=True), torch.randn(9, 5)
    loss = build_objective("grace", temperature=0.5)(u, v)
    torch.testing.assert_close(loss, naive_grace(u, v, 0.5))
    torch.testing.assert_close(loss, build_objective("nt_xent", temperature=0.5)(u, v))
    (grad,) = torch.autograd.grad(loss, u)
    chunked = build_objective("grace", temperature=0.5, chunk_size=4)(u, v)
    (grad_chunked,) = torch.autograd.grad(chunked, u)
    torch.testing.assert_close(chunked, loss)
    torch.testing.assert_close(grad_chunked, grad)
    neg = ~torch.eye(9, dtype=torch.bool)
    neg[0, 1] = neg[1, 0] = False  # a false negative removed by the policy
    masked = build_objective("grace", temperature=0.5)(u, v, torch.eye(9, dtype=torch.bool), neg)
    torch.testing.assert_close(masked, build_objective("nt_xent", temperature=0.5)(u, v, torch.eye(9, dtype=torch.bool), neg))
    torch.testing.assert_close(build_objective("grace", temperature=0.5, chunk_size=5)(u, v, torch.eye(9, dtype=torch.bool), neg), masked)
    # gradients of the chunked form (analytic backward) = autograd's, with masks and a learnable temperature
    grads = []
    for chunk in (None, 4):
        objective = build_objective("grace", temperature=0.5, chunk_size=chunk, learnable_temperature=True)
        value = objective(u, v, torch.eye(9, dtype=torch.bool), neg)
        grads.append(torch.autograd.grad(value, [u, *objective.parameters()]))
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b)


def test_cca_ssg_matches_its_formula_and_refuses_masks():
    torch.manual_seed(0)
    a, b = torch.randn(40, 6), torch.randn(40, 6)
    za, zb = (a - a.mean(0)) / a.std(0), (b - b.mean(0)) / b.std(0)
    eye = torch.eye(6)
    expected = -torch.trace(za.T @ zb) / 40 + 0.1 * (((za.T @ za) / 40 - eye).pow(2).sum() + ((zb.T @ zb) / 40 - eye).pow(2).sum())
    torch.testing.assert_close(build_objective("cca_ssg", lambda_decorrelation=0.1)(a, b), expected)
    assert "cca_ssg" in NON_CONTRASTIVE
    with pytest.raises(ValueError, match="non-contrastive"):
        build_objective("cca_ssg")(a, b, pos_mask=torch.eye(40, dtype=torch.bool))


# -- data and bad input -----------------------------------------------------------------------------
def test_check_graph_policies():
    g = ring(5)
    bad_edges = GraphData(g.x, torch.cat([g.edge_index, torch.tensor([[0], [7]])], dim=1))
    with pytest.raises(ValueError, match="outside the node range"):
        check_graph(bad_edges)
    fixed, report = check_graph(bad_edges, GraphInputPolicy(out_of_range_edges="drop"))
    assert report["out_of_range_edges"] == 1 and fixed.num_edges == g.num_edges
    x = g.x.clone()
    x[2, 1] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        check_graph(GraphData(x, g.edge_index))
    clean, _ = check_graph(GraphData(x, g.edge_index), GraphInputPolicy(nan_features="zero"))
    assert torch.isfinite(clean.x).all() and clean.x[2, 1] == 0
    looped = GraphData(torch.randn(7, 4), torch.cat([g.edge_index, torch.tensor([[1], [1]])], dim=1))
    kept, report = check_graph(looped)
    assert report["self_loops"] == 1 and report["isolated_nodes"] == 2 and kept.num_edges == g.num_edges + 1
    assert check_graph(looped, GraphInputPolicy(self_loops="remove"))[0].num_edges == g.num_edges
    with pytest.raises(ValueError, match="no edge"):
        check_graph(looped, GraphInputPolicy(isolated_nodes="error"))
    with pytest.raises(ValueError, match=r"\(2, num_edges\)"):
        check_graph(GraphData(g.x, g.edge_index.T.contiguous()))


def write_fake_planetoid(folder, name="cora", classes=3, per_class=2, num_allx=520, num_test=10, features=8, seed=0):
    """A tiny Planetoid set in the real file format (pickled arrays, adjacency dict)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    n = num_allx + num_test
    labels = rng.integers(0, classes, n)
    onehot = np.eye(classes)[labels]
    x = (rng.random((n, features)) < 0.3).astype(np.float32) + labels[:, None] * 0.1
    test_index = rng.permutation(np.arange(num_allx, n))
    parts = {"x": x[: classes * per_class], "y": onehot[: classes * per_class], "allx": x[:num_allx], "ally": onehot[:num_allx],
             "tx": x[test_index], "ty": onehot[test_index]}  # tx row j is node test_index[j]
    graph = {i: [int(j) for j in rng.choice(np.flatnonzero(labels == labels[i]), 3)] for i in range(n)}
    for key, value in {**parts, "graph": graph}.items():
        with open(folder / f"ind.{name}.{key}", "wb") as fh:
            pickle.dump(value, fh)
    (folder / f"ind.{name}.test.index").write_text("\n".join(str(i) for i in test_index))
    return labels


def test_planetoid_reader_on_fake_files_and_missing_files(tmp_path):
    labels = write_fake_planetoid(tmp_path / "Cora" / "raw")
    g = load_planetoid(tmp_path, "Cora")
    assert g.num_nodes == 530 and g.train_mask.sum() == 6 and g.val_mask.sum() == 500 and g.test_mask.sum() == 10
    assert torch.equal(g.y, torch.from_numpy(labels))
    src, dst = g.edge_index
    assert torch.equal(torch.sort(src * 530 + dst).values, torch.sort(dst * 530 + src).values)  # undirected
    (tmp_path / "Cora" / "raw" / "ind.cora.graph").unlink()
    with pytest.raises(FileNotFoundError, match="ind.cora.graph"):
        planetoid_raw_dir(tmp_path, "Cora")


@pytest.mark.realdata
def test_real_cora(shared_data):
    root = shared_data / "graph" / "planetoid"
    g = load_planetoid(root, "Cora")
    assert (g.num_nodes, g.num_edges, g.x.shape[1]) == (2708, 10556, 1433)
    assert g.y[g.train_mask].bincount().tolist() == [20] * 7 and int(g.val_mask.sum()) == 500 and int(g.test_mask.sum()) == 1000


def test_recipe_refuses_missing_files_and_bad_flags_before_claiming_out_dir(tmp_path):
    from multicl.recipes.graph_contrastive import cli

    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="ind.cora.x"):
        cli(["--data-dir", str(tmp_path / "empty"), "--out-dir", str(tmp_path / "out")])
    assert not (tmp_path / "out").exists()
    with pytest.raises(ValueError, match="k-hop-negatives"):
        cli(["--data-dir", str(tmp_path / "empty"), "--method", "cca_ssg", "--k-hop-negatives", "1", "--out-dir", str(tmp_path / "o2")])


def test_a_queue_stores_what_the_k_hop_rule_reads():
    import torch

    from multicl.negatives.graph_neighbours import KHopNeighbourPolicy
    from multicl.objectives import build_objective
    from multicl.train.learner import ContrastiveLearner

    policy = KHopNeighbourPolicy.from_graph(torch.tensor([[0, 1], [1, 2]]), num_nodes=3, k=1)
    assert "node_id" in policy.meta_keys()
    learner = ContrastiveLearner(torch.nn.Linear(2, 2), build_objective("info_nce"), policy=policy, queue_size=4, embed_dim=2)
    queue = next(s for s in learner.sources if s.name == "queue")
    assert "node_id" in queue.queue.meta_keys
