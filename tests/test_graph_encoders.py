"""GNN encoders on PyG (optional extra): registry, node/graph level, batch invariance, and the
graph methods training through the shared learners and trainer (recipe smoke on a fake Planetoid)."""
from __future__ import annotations

import json

import pytest
import torch

import torch_geometric  # noqa: F401  (the graph extra, installed by scripts/setup_env.sh: a missing one must fail)

from multicl.encoders.gnn import GNN_CONVS, build_gnn_encoder
from multicl.modalities.graph import GraphAdapter, GraphInputs, encode_nodes  # noqa: E402
from tests.test_graph import ring, write_fake_planetoid  # noqa: E402


@pytest.mark.parametrize("conv", GNN_CONVS)
def test_node_embeddings_do_not_depend_on_the_batch(conv):
    g = ring(12, f=6)
    torch.manual_seed(0)
    encoder = build_gnn_encoder(conv, 6, hidden_dims=(8, 8)).eval()
    alone = GraphInputs(g.x, g.edge_index, torch.zeros(12, dtype=torch.long), 1, torch.tensor([3]))
    other = ring(7, f=6, seed=1)
    both = GraphInputs.cat([alone, GraphInputs(other.x, other.edge_index, torch.zeros(7, dtype=torch.long), 1, torch.arange(7))])
    with torch.no_grad():
        z = encoder(alone)
        torch.testing.assert_close(encoder(both)[:1], z, atol=1e-5, rtol=1e-4)
    assert z.shape == (1, encoder.embed_dim)


def test_graph_level_pooling_and_registry_errors():
    graphs = [ring(5 + i, f=3) for i in range(3)]
    adapter = GraphAdapter("graph", graphs=graphs, conv="gin", hidden_dims=(8, 8), batch_norm=False, pooling="sum")
    encoder = adapter.build_encoder().eval()
    with torch.no_grad():
        z = encoder(adapter.prepare_inputs(graphs))
        torch.testing.assert_close(encoder(adapter.prepare_inputs(graphs[1:2])), z[1:2], atol=1e-5, rtol=1e-4)
    assert z.shape == (3, 16) and encoder.embed_dim == 16  # both layers' sums, concatenated
    with pytest.raises(KeyError, match="available"):
        build_gnn_encoder("gcnn", 3)
    with pytest.raises(ValueError, match="pooling"):
        encoder(GraphInputs(graphs[0].x, graphs[0].edge_index, torch.zeros(5, dtype=torch.long), 1, torch.tensor([0])))


def test_weighted_edges_reach_gcn():
    g = ring(6, f=3)
    encoder = build_gnn_encoder("gcn", 3, hidden_dims=(4,)).eval()
    plain = GraphInputs(g.x, g.edge_index, torch.zeros(6, dtype=torch.long), 1, torch.arange(6))
    weighted = GraphInputs(g.x, g.edge_index, torch.zeros(6, dtype=torch.long), 1, torch.arange(6), torch.full((12,), 0.1))
    with torch.no_grad():
        assert not torch.allclose(encoder(plain), encoder(weighted))


@pytest.mark.slow
@pytest.mark.parametrize("method", ["grace", "cca_ssg", "bgrl"])
def test_recipe_smoke_on_a_fake_planetoid(tmp_path, method):
    from multicl.recipes.graph_contrastive import Config, main

    write_fake_planetoid(tmp_path / "data" / "Cora" / "raw", features=16)
    metrics = main(Config(data_dir=str(tmp_path / "data"), method=method, out_dir=str(tmp_path / "out"), epochs=3, seed=0))
    stored = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert {"test_accuracy", "val_accuracy", "supervised_gcn_test_accuracy", "raw_features_lr_test_accuracy",
            "random_init_gcn_test_accuracy", "protocol"} <= set(stored)
    assert 0 <= metrics["test_accuracy"] <= 100 and (tmp_path / "out" / "model" / "multicl.json").exists()


def test_full_batch_grace_step_lowers_the_loss():
    from multicl.objectives import build_objective
    from multicl.train.learner import ContrastiveLearner
    from multicl.modalities.views_dataset import ViewsDataset
    from multicl.negatives.graph_neighbours import KHopNeighbourPolicy
    from multicl.views.graph import DropEdges, MaskFeatures

    g = ring(40, f=8)
    adapter = GraphAdapter("node", g, view_a=DropEdges(0.2), view_b=MaskFeatures(0.2), hidden_dims=(16, 16))
    torch.manual_seed(0)
    encoder = adapter.build_encoder()
    policy = KHopNeighbourPolicy.from_graph(g.edge_index, 40, k=1)
    learner = ContrastiveLearner(encoder, build_objective("grace", temperature=0.5, chunk_size=16), policy=policy)
    ds = ViewsDataset(list(range(40)), adapter)
    opt = torch.optim.Adam(learner.parameters(), lr=3e-3)
    losses = []
    for step in range(30):
        batch = adapter.collate([ds[40 * step + i] for i in range(40)])
        loss = learner(batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert any("k_hop" in key for key in learner.last_stats), learner.last_stats
    assert sum(losses[-5:]) < sum(losses[:5]), losses
    assert encode_nodes(encoder, adapter).shape == (40, 16)
