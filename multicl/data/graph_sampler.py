"""Pure-torch neighbour sampling on a CSR graph (GraphSAGE-style), for graphs whose full-batch
step does not fit: a batch of seed nodes -> the sampled multi-hop subgraph around them.

No pyg-lib / torch-sparse: :class:`CSRGraph` sorts the edges by target once; each hop draws up to
``fanout`` incoming neighbours per frontier node without replacement (random keys ranked
within each node's segment), all vectorised. The subgraph lists the seeds first, so
``targets = arange(len(seeds))``.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class CSRGraph:
    """Incoming adjacency: the sources of node v's in-edges are ``col[rowptr[v]:rowptr[v+1]]``."""

    rowptr: torch.Tensor
    col: torch.Tensor
    num_nodes: int

    @classmethod
    def from_edge_index(cls, edge_index: torch.Tensor, num_nodes: int) -> "CSRGraph":
        src, dst = edge_index[0].long(), edge_index[1].long()
        order = torch.argsort(dst * num_nodes + src) if num_nodes < 3_000_000_000 else torch.argsort(dst, stable=True)
        counts = torch.bincount(dst, minlength=num_nodes)
        rowptr = torch.zeros(num_nodes + 1, dtype=torch.long)
        rowptr[1:] = torch.cumsum(counts, 0)
        return cls(rowptr, src[order].contiguous(), num_nodes)

    def degree(self, nodes: torch.Tensor) -> torch.Tensor:
        return self.rowptr[nodes + 1] - self.rowptr[nodes]


@dataclass(frozen=True)
class SampledSubgraph:
    nodes: torch.Tensor  # (S,) global ids, seeds first
    edge_index: torch.Tensor  # (2, E) local ids, messages src -> dst
    targets: torch.Tensor  # (B,) local ids of the seeds


class NeighbourSampler:
    """``sample(seeds, generator)`` -> the union of ``len(fanouts)`` hops of sampled in-neighbours
    (fanout -1: all). The returned subgraph holds the sampled edges only (what a GraphSAGE
    minibatch needs for the seeds' embeddings)."""

    def __init__(self, graph: CSRGraph, fanouts: tuple[int, ...] = (10, 10)) -> None:
        if not fanouts:
            raise ValueError("fanouts needs one entry per layer (e.g. (10, 10) for 2 layers)")
        self.graph, self.fanouts = graph, tuple(fanouts)

    def sample(self, seeds: torch.Tensor, generator: torch.Generator | None = None) -> SampledSubgraph:
        g = self.graph
        seeds = torch.as_tensor(seeds, dtype=torch.long)
        if len(seeds) and (seeds.min() < 0 or seeds.max() >= g.num_nodes):
            raise ValueError(f"seed nodes must be in [0, {g.num_nodes}), got range [{int(seeds.min())}, {int(seeds.max())}]")
        if len(seeds.unique()) != len(seeds):
            raise ValueError("seed nodes must be distinct (each is one row of the batch)")
        local = torch.full((g.num_nodes,), -1, dtype=torch.long)
        local[seeds] = torch.arange(len(seeds))
        nodes, frontier = [seeds], seeds
        count = len(seeds)
        src_all, dst_all = [], []
        for fanout in self.fanouts:
            src, dst = self._hop(frontier, fanout, generator)
            fresh = src[local[src] < 0].unique()
            local[fresh] = torch.arange(count, count + len(fresh))
            count += len(fresh)
            nodes.append(fresh)
            src_all.append(local[src])
            dst_all.append(local[dst])
            frontier = fresh
            if len(frontier) == 0:
                break
        edge_index = torch.stack([torch.cat(src_all), torch.cat(dst_all)])
        return SampledSubgraph(torch.cat(nodes), edge_index, torch.arange(len(seeds)))

    def _hop(self, frontier: torch.Tensor, fanout: int, generator: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor]:
        g = self.graph
        deg = g.degree(frontier)
        total = int(deg.sum())
        if total == 0:
            empty = torch.zeros(0, dtype=torch.long)
            return empty, empty
        segment = torch.repeat_interleave(torch.arange(len(frontier)), deg)  # (T,) which frontier node
        offsets = torch.cumsum(deg, 0) - deg  # (F,)
        position = g.rowptr[frontier][segment] + torch.arange(total) - offsets[segment]  # (T,) edge slots
        if fanout >= 0:
            keys = segment.double() + torch.rand(total, generator=generator, dtype=torch.double)
            order = torch.argsort(keys)  # random order inside each node's segment
            rank = torch.arange(total) - offsets[segment[order]]
            chosen = order[rank < fanout]
            position, segment = position[chosen], segment[chosen]
        return g.col[position], frontier[segment]
