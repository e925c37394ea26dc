"""Generated graphs for benchmarks and tests (nothing offline ships large graphs or TU sets).

``community_graph``: one big node-classification graph (planted communities, features = the
community's centroid + noise). ``sbm_graph_classification``: small graphs whose class sets
the block structure (GraphCL's graph-level benchmark stand-in).
"""
from __future__ import annotations

import numpy as np
import torch

from multicl.data.planetoid import GraphData


def community_graph(num_nodes: int, num_communities: int = 50, degree: int = 10, p_in: float = 0.8, features: int = 64,
                    noise: float = 1.0, seed: int = 0) -> GraphData:
    """``num_nodes`` nodes, about ``degree`` undirected edges each (share ``p_in`` inside the
    node's community), labels = community."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(num_communities, (num_nodes,), generator=g)
    order = torch.argsort(labels)
    sorted_labels = labels[order]
    starts = torch.searchsorted(sorted_labels, torch.arange(num_communities))
    counts = torch.bincount(labels, minlength=num_communities)
    m = num_nodes * degree // 2
    src = torch.randint(num_nodes, (m,), generator=g)
    inside = torch.rand(m, generator=g) < p_in
    community = labels[src]
    offset = (torch.rand(m, generator=g) * counts[community]).long()
    dst_in = order[starts[community] + offset]
    dst_out = torch.randint(num_nodes, (m,), generator=g)
    dst = torch.where(inside, dst_in, dst_out)
    keep = src != dst
    src, dst = src[keep], dst[keep]
    edge_index = torch.cat([torch.stack([src, dst]), torch.stack([dst, src])], dim=1)
    centroids = torch.randn(num_communities, features, generator=g)
    x = centroids[labels] + noise * torch.randn(num_nodes, features, generator=g)
    return GraphData(x, edge_index, labels)


def sbm_graph_classification(num_graphs: int = 400, num_classes: int = 4, nodes: tuple[int, int] = (20, 40), features: int = 8,
                             seed: int = 0) -> tuple[list[GraphData], np.ndarray]:
    """Class c: a stochastic block model with ``c + 2`` blocks (p_in 0.5, p_out 0.05) whose node
    features are weakly informative (block one-hot-ish + noise, identical distribution across
    classes), so telling the classes apart needs the structure."""
    rng = np.random.default_rng(seed)
    labels = np.arange(num_graphs) % num_classes
    rng.shuffle(labels)
    graphs = []
    for label in labels:
        n = int(rng.integers(nodes[0], nodes[1] + 1))
        blocks = rng.integers(0, int(label) + 2, n)
        same = blocks[:, None] == blocks[None, :]
        prob = np.where(same, 0.5, 0.05)
        upper = np.triu(rng.random((n, n)) < prob, 1)
        src, dst = np.nonzero(upper)
        edge_index = torch.from_numpy(np.stack([np.concatenate([src, dst]), np.concatenate([dst, src])])).long()
        x = torch.from_numpy(rng.normal(size=(n, features)).astype(np.float32))
        graphs.append(GraphData(x, edge_index))
    return graphs, labels


def graph_statistics(graphs: list[GraphData]) -> np.ndarray:
    """Raw per-graph statistics for the baseline: nodes, edges, density, degree mean/std/max,
    triangle count per node, mean feature values."""
    rows = []
    for g in graphs:
        n = g.num_nodes
        a = torch.zeros(n, n)
        a[g.edge_index[0], g.edge_index[1]] = 1
        deg = a.sum(1)
        triangles = float(torch.trace(a @ a @ a)) / 6
        rows.append([n, g.num_edges / 2, g.num_edges / max(n * (n - 1), 1), float(deg.mean()), float(deg.std()), float(deg.max()),
                     triangles / n, *g.x.mean(0).tolist()])
    return np.asarray(rows, dtype=np.float64)
