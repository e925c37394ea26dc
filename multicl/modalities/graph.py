"""Graph adapter: node-level (rows are nodes of one big graph) and graph-level (rows are graphs).

Inputs are :class:`GraphInputs`, PyG's ``Batch`` idea in the engine's ``Inputs`` shape: node
features ``x``, ``edge_index`` (and optional ``edge_weight``), the node -> graph vector
``batch``, and for node-level rows ``targets`` (which nodes are the rows). ``cat`` makes the
disjoint union (edge ids shifted by the node offsets, ``batch`` by the graph counts, ``targets``
by the node offsets); ``select`` keeps the graph and picks target rows (node level) or picks
and renumbers whole graphs (graph level).

Node level (GRACE, BGRL, CCA-SSG): a sample is a node id; its two views are a
:class:`NodeView` each, and the *batch* is augmented once per side (one random graph view for
all nodes of the batch, as the papers do; the seed comes from the views' seeds, so batches are
reproducible). Without a sampler the view is of the whole graph (full batch: batch size = all
nodes); with a :class:`~multicl.data.graph_sampler.NeighbourSampler` it is of the sampled
subgraph around the batch (both sides share the sample and differ by augmentation).
Graph level (GraphCL): a sample is a graph index; each view augments that graph alone.

Metadata: ``instance_id`` (dataset index), ``node_id`` (node level: the graph's node id, for
:class:`~multicl.negatives.graph_neighbours.KHopNeighbourPolicy`) and ``group_id`` when groups
(e.g. a partition of the nodes) are given.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator, Sequence

import numpy as np
import torch
from torch import nn

from multicl.data.graph_sampler import CSRGraph, NeighbourSampler
from multicl.data.planetoid import GraphData
from multicl.modalities.base import Adapter
from multicl.views.graph import GraphView

MODES = ("node", "graph")


class GraphInputs:
    """A batch of graphs: ``x`` (V, F), ``edge_index`` (2, E), ``edge_weight`` (E,) or None,
    ``batch`` (V,) graph of each node, ``num_graphs``, ``targets`` (R,) node ids of the rows
    (node level) or None (graph level: the rows are the graphs)."""

    def __init__(self, x: torch.Tensor, edge_index: torch.Tensor, batch: torch.Tensor, num_graphs: int,
                 targets: torch.Tensor | None = None, edge_weight: torch.Tensor | None = None) -> None:
        if edge_index.ndim != 2 or edge_index.shape[0] != 2:
            raise ValueError(f"edge_index must be (2, E), got {tuple(edge_index.shape)}")
        if batch.shape != (x.shape[0],):
            raise ValueError(f"batch must give one graph id per node: {tuple(batch.shape)} for {x.shape[0]} nodes")
        self.x, self.edge_index, self.batch, self.num_graphs = x, edge_index, batch, int(num_graphs)
        self.targets, self.edge_weight = targets, edge_weight

    # -- Mapping-like view of the tensors (tests compare inputs key by key) ----------------------
    def _tensors(self) -> dict[str, torch.Tensor]:
        out = {"x": self.x, "edge_index": self.edge_index, "batch": self.batch}
        if self.targets is not None:
            out["targets"] = self.targets
        if self.edge_weight is not None:
            out["edge_weight"] = self.edge_weight
        return out

    def __iter__(self) -> Iterator[str]:
        return iter(self._tensors())

    def __getitem__(self, key: str) -> torch.Tensor:
        return self._tensors()[key]

    def __repr__(self) -> str:
        return f"GraphInputs(rows={self.num_rows}, nodes={self.num_nodes}, edges={self.edge_index.shape[1]}, graphs={self.num_graphs})"

    @property
    def num_nodes(self) -> int:
        return int(self.x.shape[0])

    # -- Inputs ----------------------------------------------------------------------------------
    @property
    def num_rows(self) -> int:
        return int(len(self.targets)) if self.targets is not None else self.num_graphs

    def select(self, rows: torch.Tensor | Sequence[int]) -> "GraphInputs":
        rows = torch.as_tensor(rows, dtype=torch.long)
        if self.targets is not None:  # node level: same graph, other target rows
            return GraphInputs(self.x, self.edge_index, self.batch, self.num_graphs, self.targets[rows.to(self.targets.device)], self.edge_weight)
        device = self.batch.device
        new_graph = torch.full((self.num_graphs,), -1, dtype=torch.long, device=device)
        new_graph[rows.to(device)] = torch.arange(len(rows), device=device)
        keep = new_graph[self.batch] >= 0
        new_node = torch.full((self.num_nodes,), -1, dtype=torch.long, device=device)
        new_node[keep] = torch.arange(int(keep.sum()), device=device)
        edge_keep = keep[self.edge_index[0]]
        weight = None if self.edge_weight is None else self.edge_weight[edge_keep]
        return GraphInputs(self.x[keep], new_node[self.edge_index[:, edge_keep]], new_graph[self.batch[keep]], len(rows), None, weight)

    def to(self, device: torch.device | str, non_blocking: bool = False) -> "GraphInputs":
        move = lambda t: None if t is None else t.to(device, non_blocking=non_blocking)  # noqa: E731
        return GraphInputs(move(self.x), move(self.edge_index), move(self.batch), self.num_graphs, move(self.targets), move(self.edge_weight))

    @classmethod
    def cat(cls, parts: Sequence["GraphInputs"]) -> "GraphInputs":
        parts = [p for p in parts if p is not None]
        if not parts:
            raise ValueError("nothing to concatenate")
        if len(parts) == 1:
            return parts[0]
        levels = {p.targets is None for p in parts}
        if len(levels) != 1:
            raise ValueError("cannot stack node-level and graph-level graph inputs")
        device = parts[0].x.device
        node_offsets = np.cumsum([0] + [p.num_nodes for p in parts[:-1]])
        graph_offsets = np.cumsum([0] + [p.num_graphs for p in parts[:-1]])
        x = torch.cat([p.x.to(device) for p in parts])
        edge_index = torch.cat([p.edge_index.to(device) + int(o) for p, o in zip(parts, node_offsets)], dim=1)
        batch = torch.cat([p.batch.to(device) + int(o) for p, o in zip(parts, graph_offsets)])
        targets = None
        if parts[0].targets is not None:
            targets = torch.cat([p.targets.to(device) + int(o) for p, o in zip(parts, node_offsets)])
        weight = None
        if any(p.edge_weight is not None for p in parts):  # unweighted parts count as weight 1
            weight = torch.cat([p.edge_weight.to(device) if p.edge_weight is not None
                                else torch.ones(p.edge_index.shape[1], device=device) for p in parts])
        return cls(x, edge_index, batch, int(sum(p.num_graphs for p in parts)), targets, weight)


@dataclass(frozen=True)
class NodeView:
    """One node's view request: ``side`` (0: anchor view, 1: positive view), the batch-shared
    ``sample_seed`` (same for both sides) and this side's ``seed``."""

    node: int
    side: int
    sample_seed: int
    seed: int


def _combine(seeds: Sequence[int]) -> int:
    return int(np.random.SeedSequence([int(s) for s in seeds[:64]] + [len(seeds)]).generate_state(1, np.uint64)[0] >> 1)


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(seed))


class GraphAdapter(Adapter):
    """Args:
        mode: ``"node"`` (samples are node ids of ``graph``) or ``"graph"`` (samples index ``graphs``).
        graph / graphs: the graph (node level) or the list of graphs (graph level).
        view_a / view_b: augmentations of each side (:mod:`multicl.views.graph`); node level needs
            index-keeping views (``relabel=False`` for node dropping and subgraphs).
        conv, hidden_dims, activation, last_activation, batch_norm, pooling, heads: the encoder
            (:class:`~multicl.encoders.gnn.GNNEncoder`); pooling is for graph level.
        sampler_fanouts: node level only: sample each batch's neighbourhood (one fanout per hop)
            instead of using the whole graph.
        groups: optional (num_nodes,) or (num_graphs,) group ids -> ``group_id`` metadata.
    """

    def __init__(self, mode: str, graph: GraphData | None = None, graphs: Sequence[GraphData] | None = None,
                 view_a: GraphView | None = None, view_b: GraphView | None = None, conv: str = "gcn",
                 hidden_dims: tuple[int, ...] = (256, 128), activation: str = "prelu", last_activation: bool = True, batch_norm: bool = False,
                 pooling: str = "sum", heads: int = 4, sampler_fanouts: tuple[int, ...] | None = None,
                 groups: np.ndarray | None = None) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if mode == "node" and graph is None:
            raise ValueError("node-level mode needs graph=GraphData(...) (the graph whose nodes are the samples)")
        if mode == "graph" and not graphs:
            raise ValueError("graph-level mode needs graphs=[GraphData, ...] (one per sample)")
        if mode == "graph" and sampler_fanouts is not None:
            raise ValueError("sampler_fanouts is for node-level mode; graph-level samples are whole (small) graphs")
        self.mode, self.graph, self.graphs = mode, graph, list(graphs) if graphs else None
        self.view_a, self.view_b = view_a, view_b
        self.conv, self.hidden_dims, self.activation, self.last_activation = conv, tuple(hidden_dims), activation, last_activation
        self.batch_norm, self.pooling, self.heads = batch_norm, pooling, heads
        self.groups = None if groups is None else np.asarray(groups)
        self.sampler = None
        if sampler_fanouts is not None:
            self.sampler = NeighbourSampler(CSRGraph.from_edge_index(graph.edge_index, graph.num_nodes), tuple(sampler_fanouts))
        self.in_dim = int(graph.x.shape[1]) if mode == "node" else int(self.graphs[0].x.shape[1])

    # -- views -----------------------------------------------------------------------------------
    def views(self, sample: Any, rng: np.random.Generator):
        if self.mode == "node":
            sample_seed, seed_a, seed_b = (int(s) for s in rng.integers(0, 2**62, size=3))
            return NodeView(int(sample), 0, sample_seed, seed_a), NodeView(int(sample), 1, sample_seed, seed_b)
        g = self.graphs[int(sample)]
        seed_a, seed_b = (int(s) for s in rng.integers(0, 2**62, size=2))
        return self._augment(g.x, g.edge_index, None, 0, seed_a), self._augment(g.x, g.edge_index, None, 1, seed_b)

    def _augment(self, x, edge_index, edge_weight, side: int, seed: int):
        view = self.view_a if side == 0 else self.view_b
        if view is None:
            return x, edge_index, edge_weight
        return view(x, edge_index, edge_weight, _generator(seed))

    def views_to_inputs(self, views: Sequence[Any]) -> GraphInputs:
        if self.mode == "graph":
            return self.prepare_inputs(views)
        if not all(isinstance(v, NodeView) for v in views):
            raise TypeError("node-level views must be NodeView (from GraphAdapter.views)")
        nodes = torch.tensor([v.node for v in views], dtype=torch.long)
        sides = {v.side for v in views}
        if len(sides) != 1:
            raise ValueError("one role's views must all be the same side (anchor or positive)")
        x, edge_index, targets = self._neighbourhood(nodes, _combine([v.sample_seed for v in views]))
        n = x.shape[0]
        x, edge_index, weight = self._augment(x, edge_index, None, sides.pop(), _combine([v.seed for v in views]))
        if x.shape[0] != n:
            raise ValueError("node-level views must keep node indices: use DropNodes/Subgraph with relabel=False")
        return GraphInputs(x, edge_index, torch.zeros(n, dtype=torch.long), 1, targets, weight)

    def _neighbourhood(self, nodes: torch.Tensor, seed: int):
        g = self.graph
        if self.sampler is None:
            return g.x, g.edge_index, nodes
        sub = self.sampler.sample(nodes, _generator(seed))
        return g.x[sub.nodes], sub.edge_index, sub.targets

    # -- inputs, metadata, encoder ---------------------------------------------------------------
    def prepare_inputs(self, raw: Sequence[Any]) -> GraphInputs:
        """Node level: node ids -> the (un-augmented) graph with those nodes as rows. Graph
        level: graphs (GraphData or (x, edge_index[, edge_weight]) tuples) -> their disjoint union."""
        if self.mode == "node":
            nodes = torch.as_tensor([int(r) for r in raw], dtype=torch.long)
            x, edge_index, targets = self._neighbourhood(nodes, 0)
            return GraphInputs(x, edge_index, torch.zeros(x.shape[0], dtype=torch.long), 1, targets)
        parts = []
        for item in raw:
            x, edge_index, weight = (item.x, item.edge_index, None) if isinstance(item, GraphData) else (tuple(item) + (None,))[:3]
            parts.append(GraphInputs(x, edge_index, torch.zeros(x.shape[0], dtype=torch.long), 1, None, weight))
        return GraphInputs.cat(parts)

    def meta(self, sample: Any, index: int) -> dict[str, int]:
        out = {"instance_id": int(index)}
        if self.mode == "node":
            out["node_id"] = int(sample)
        if self.groups is not None:
            out["group_id"] = int(self.groups[int(sample)])
        return out

    def mining_corpus(self, samples: Sequence[Any]) -> list[Any]:
        return list(samples) if self.mode == "node" else [self.graphs[int(s)] for s in samples]

    def length_of(self, raw: Any) -> int:
        if self.mode == "node":
            return 0
        return int(raw.x.shape[0]) if isinstance(raw, GraphData) else int(raw[0].shape[0])

    def build_encoder(self) -> nn.Module:
        from multicl.encoders.gnn import build_gnn_encoder

        return build_gnn_encoder(self.conv, self.in_dim, hidden_dims=self.hidden_dims, activation=self.activation,
                                 last_activation=self.last_activation,
                                 batch_norm=self.batch_norm, pooling=None if self.mode == "node" else self.pooling, heads=self.heads)


@torch.no_grad()
def encode_nodes(encoder: nn.Module, adapter: GraphAdapter, nodes: Sequence[int] | None = None, batch_size: int | None = None) -> torch.Tensor:
    """Embeddings of ``nodes`` (default: all) in eval mode: full graph in one pass, or in batches
    (through the adapter's sampler when it has one)."""
    was = encoder.training
    encoder.eval()
    try:
        nodes = list(range(adapter.graph.num_nodes)) if nodes is None else list(nodes)
        step = batch_size or len(nodes)
        device = next(encoder.parameters()).device
        return torch.cat([encoder(adapter.prepare_inputs(nodes[i:i + step]).to(device)).cpu() for i in range(0, len(nodes), step)])
    finally:
        encoder.train(was)
