"""Graph augmentations (pure torch, seeded by a ``torch.Generator``), composable.

Every view maps ``(x, edge_index, edge_weight)`` to the same triple; ``edge_weight`` is None for
an unweighted graph (PPR diffusion makes a weighted one). Views that remove nodes either
*isolate* them (``relabel=False``: the node keeps its index, loses its edges and features, so
node-level targets stay valid) or *remove* them (``relabel=True``: graph-level views, GraphCL).

    DropEdges(p)            GRACE/BGRL: each directed edge kept with prob 1 - p
    MaskFeatures(p)         GRACE: the same random feature columns zeroed for every node
    DropNodes(p)            GraphCL node dropping
    Subgraph(ratio)         GraphCL: a random-walk-grown connected part with ``ratio`` of the nodes
    PerturbEdges(p)         GraphCL: replace a share p of the edges by random ones
    PPRDiffusion(alpha, k)  MVGRL: personalised PageRank, top-k entries per node (deterministic)
    Compose([...])          apply in order
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, Sequence

import torch

GraphTriple = tuple[torch.Tensor, torch.Tensor, "torch.Tensor | None"]


class GraphView(Protocol):
    def __call__(self, x: torch.Tensor, edge_index: torch.Tensor, edge_weight: torch.Tensor | None,
                 generator: torch.Generator) -> GraphTriple: ...


def _check_rate(name: str, p: float) -> None:
    if not 0.0 <= p < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {p}")


def keep_nodes(x: torch.Tensor, edge_index: torch.Tensor, edge_weight: torch.Tensor | None, keep: torch.Tensor,
               relabel: bool) -> GraphTriple:
    """Restrict to the nodes where ``keep`` (N,) is True: renumbered (``relabel``) or isolated with
    zero features (indices kept)."""
    edge_keep = keep[edge_index[0]] & keep[edge_index[1]]
    edge_index = edge_index[:, edge_keep]
    edge_weight = None if edge_weight is None else edge_weight[edge_keep]
    if relabel:
        new_id = torch.full((x.shape[0],), -1, dtype=torch.long, device=x.device)
        new_id[keep] = torch.arange(int(keep.sum()), device=x.device)
        return x[keep], new_id[edge_index], edge_weight
    return x * keep[:, None].to(x.dtype), edge_index, edge_weight


@dataclass(frozen=True)
class DropEdges:
    p: float = 0.2

    def __post_init__(self) -> None:
        _check_rate("DropEdges.p", self.p)

    def __call__(self, x, edge_index, edge_weight, generator):
        keep = torch.rand(edge_index.shape[1], generator=generator) >= self.p
        return x, edge_index[:, keep], None if edge_weight is None else edge_weight[keep]


@dataclass(frozen=True)
class MaskFeatures:
    p: float = 0.3

    def __post_init__(self) -> None:
        _check_rate("MaskFeatures.p", self.p)

    def __call__(self, x, edge_index, edge_weight, generator):
        keep = (torch.rand(x.shape[1], generator=generator) >= self.p).to(x.dtype)  # (F,) same columns for every node
        return x * keep, edge_index, edge_weight


@dataclass(frozen=True)
class DropNodes:
    p: float = 0.2
    relabel: bool = True

    def __post_init__(self) -> None:
        _check_rate("DropNodes.p", self.p)

    def __call__(self, x, edge_index, edge_weight, generator):
        keep = torch.rand(x.shape[0], generator=generator) >= self.p
        if not keep.any():
            keep[torch.randint(x.shape[0], (1,), generator=generator)] = True
        return keep_nodes(x, edge_index, edge_weight, keep, self.relabel)


@dataclass(frozen=True)
class Subgraph:
    """Grow a node set from a random start by repeatedly adding random neighbours of the set
    (GraphCL's random-walk subgraph) until ``ratio`` of the nodes are in; restarts elsewhere
    when the component is exhausted."""

    ratio: float = 0.8
    relabel: bool = True

    def __post_init__(self) -> None:
        if not 0.0 < self.ratio <= 1.0:
            raise ValueError(f"Subgraph.ratio must be in (0, 1], got {self.ratio}")

    def __call__(self, x, edge_index, edge_weight, generator):
        n = x.shape[0]
        target = max(1, int(round(self.ratio * n)))
        keep = torch.zeros(n, dtype=torch.bool)
        keep[torch.randint(n, (1,), generator=generator)] = True
        src, dst = edge_index[0].cpu(), edge_index[1].cpu()
        while int(keep.sum()) < target:
            frontier = dst[keep[src] & ~keep[dst]].unique()
            if len(frontier) == 0:  # component exhausted: restart from a random outside node
                outside = (~keep).nonzero().flatten()
                frontier = outside[torch.randint(len(outside), (1,), generator=generator)]
            need = target - int(keep.sum())
            if len(frontier) > need:
                frontier = frontier[torch.randperm(len(frontier), generator=generator)[:need]]
            keep[frontier] = True
        return keep_nodes(x, edge_index, edge_weight, keep.to(x.device), self.relabel)


@dataclass(frozen=True)
class PerturbEdges:
    p: float = 0.1

    def __post_init__(self) -> None:
        _check_rate("PerturbEdges.p", self.p)

    def __call__(self, x, edge_index, edge_weight, generator):
        e, n = edge_index.shape[1], x.shape[0]
        change = int(round(self.p * e))
        if change == 0 or n < 2:
            return x, edge_index, edge_weight
        keep = torch.randperm(e, generator=generator)[change:]
        added = torch.randint(n, (2, change), generator=generator)
        weight = None if edge_weight is None else torch.cat([edge_weight[keep], torch.ones(change, dtype=edge_weight.dtype)])
        return x, torch.cat([edge_index[:, keep], added.to(edge_index.device)], dim=1), weight


def ppr_matrix(edge_index: torch.Tensor, num_nodes: int, alpha: float = 0.2, max_nodes: int = 10_000) -> torch.Tensor:
    """Dense PPR diffusion ``alpha (I - (1 - alpha) D^-1/2 (A + I) D^-1/2)^-1`` (N, N) (MVGRL)."""
    if num_nodes > max_nodes:
        raise ValueError(f"dense PPR diffusion of {num_nodes} nodes needs {num_nodes ** 2 * 4 / 1e9:.1f} GB; use it on "
                         f"graphs up to {max_nodes} nodes (or on sampled subgraphs)")
    a = torch.zeros(num_nodes, num_nodes)
    a[edge_index[0].cpu(), edge_index[1].cpu()] = 1.0
    a = a + torch.eye(num_nodes)
    d = a.sum(1).rsqrt()
    t = d[:, None] * a * d[None, :]
    return alpha * torch.linalg.inv(torch.eye(num_nodes) - (1 - alpha) * t)


@dataclass(frozen=True)
class PPRDiffusion:
    """Replace the graph by its PPR diffusion, sparsified to the ``top_k`` largest entries per
    node (weighted edges). Deterministic; the last graph's result is cached, keyed by (nodes,
    edges, sum of edge ids): meant for one fixed graph (node level), not a stream of graphs."""

    alpha: float = 0.2
    top_k: int = 32
    _cache: dict = field(default_factory=dict, compare=False, repr=False)

    def __call__(self, x, edge_index, edge_weight, generator):
        key = (x.shape[0], edge_index.shape[1], int(edge_index.sum()))
        if key not in self._cache:
            s = ppr_matrix(edge_index, x.shape[0], self.alpha)
            k = min(self.top_k, x.shape[0])
            values, cols = s.topk(k, dim=1)  # (N, k)
            rows = torch.arange(x.shape[0])[:, None].expand_as(cols)
            self._cache.clear()
            self._cache[key] = (torch.stack([cols.flatten(), rows.flatten()]).to(edge_index.device), values.flatten())
        index, weight = self._cache[key]
        return x, index, weight.to(x.device)


@dataclass(frozen=True)
class Compose:
    views: Sequence[GraphView] = ()

    def __call__(self, x, edge_index, edge_weight, generator):
        for view in self.views:
            x, edge_index, edge_weight = view(x, edge_index, edge_weight, generator)
        return x, edge_index, edge_weight


GRAPH_VIEWS = {"drop_edges": DropEdges, "mask_features": MaskFeatures, "drop_nodes": DropNodes, "subgraph": Subgraph,
               "perturb_edges": PerturbEdges, "ppr": PPRDiffusion}
