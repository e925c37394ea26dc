"""Node features from structure, for graphs whose given features say little (PyG's ``OneHotDegree``)."""
from __future__ import annotations

import torch

from multicl.data.planetoid import GraphData


def with_degree_features(graph: GraphData, max_degree: int, keep_given: bool = True) -> GraphData:
    """``graph`` with a one-hot of each node's degree (capped at ``max_degree``) appended to (or,
    ``keep_given=False``, replacing) its features: a 1-WL GNN then sees the structure from the
    first layer, as graph-classification benchmarks without informative attributes do."""
    degree = torch.bincount(graph.edge_index[0], minlength=graph.num_nodes).clamp(max=max_degree)
    one_hot = torch.nn.functional.one_hot(degree, max_degree + 1).float()
    x = torch.cat([graph.x, one_hot], dim=1) if keep_given else one_hot
    return GraphData(x, graph.edge_index, graph.y, graph.train_mask, graph.val_mask, graph.test_mask)
