"""False negatives on graphs: a node's k-hop neighbours are not its negatives (optional).

:class:`KHopNeighbourPolicy` is the :class:`~multicl.negatives.masks.FalseNegativePolicy` with one
more rule, ``k_hop``: a candidate whose ``node_id`` is within ``k`` hops of the anchor's
``node_id`` is dropped (the same node is dropped by ``same_instance`` as always). Neighbourhood is
not an equivalence, so it cannot be a ``group_id``; the relation is held here as sorted pair keys
(``anchor * N + candidate``) and looked up per batch. Every source's candidates pass through it
like any other rule; candidates without ``node_id`` (a queue's keys) raise.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from multicl.negatives.masks import FalseNegativePolicy, Meta


def k_hop_pairs(edge_index: torch.Tensor, num_nodes: int, k: int) -> torch.Tensor:
    """Sorted unique keys ``u * N + v`` of node pairs within 1..k hops (undirected), u != v."""
    if k < 1:
        raise ValueError(f"k must be >= 1 hop, got {k}")
    src, dst = edge_index[0].long(), edge_index[1].long()
    keys = torch.cat([src * num_nodes + dst, dst * num_nodes + src]).unique()
    reach = keys  # sorted, so sorted by first node too
    first, second = keys // num_nodes, keys % num_nodes
    for _ in range(k - 1):  # extend by one edge: pairs (u, w) with (u, v) in reach and (v, w) an edge
        u, v = reach // num_nodes, reach % num_nodes
        start = torch.searchsorted(first, v)
        count = torch.searchsorted(first, v, right=True) - start
        rows = torch.repeat_interleave(torch.arange(len(v)), count)
        offsets = torch.cumsum(count, 0) - count
        position = start[rows] + torch.arange(int(count.sum())) - offsets[rows]
        reach = torch.cat([reach, u[rows] * num_nodes + second[position]]).unique()
    return reach[(reach // num_nodes) != (reach % num_nodes)]


@dataclass(frozen=True)
class KHopNeighbourPolicy(FalseNegativePolicy):
    """Args (beyond the base policy's): ``pair_keys`` from :func:`k_hop_pairs` and ``num_nodes``;
    build it with :meth:`from_graph`."""

    pair_keys: torch.Tensor = field(default_factory=lambda: torch.zeros(0, dtype=torch.long), compare=False, repr=False)
    num_nodes: int = 0
    node_key: str = "node_id"

    @classmethod
    def from_graph(cls, edge_index: torch.Tensor, num_nodes: int, k: int = 1, **policy: bool) -> "KHopNeighbourPolicy":
        return cls(pair_keys=k_hop_pairs(edge_index, num_nodes, k), num_nodes=num_nodes, **policy)

    def meta_keys(self) -> list[str]:
        return [*super().meta_keys(), self.node_key]

    def false_negative_masks(self, anchor_meta: Meta, candidate_meta: Meta, similarities=None, positive_similarities=None):
        masks = super().false_negative_masks(anchor_meta, candidate_meta, similarities, positive_similarities)
        if self.node_key not in anchor_meta or self.node_key not in candidate_meta:
            raise ValueError(f"KHopNeighbourPolicy needs {self.node_key!r} in the metadata of anchors and candidates "
                             f"(node-level GraphAdapter gives it); got {sorted(anchor_meta)} / {sorted(candidate_meta)}")
        a = anchor_meta[self.node_key].reshape(-1, 1)
        c = candidate_meta[self.node_key].to(a.device)
        c = c if c.ndim == 2 else c.reshape(1, -1)
        query = (a * self.num_nodes + c).cpu()  # (N, M)
        keys = self.pair_keys
        slot = torch.searchsorted(keys, query).clamp(max=max(len(keys) - 1, 0))
        masks["k_hop"] = ((keys[slot] == query) if len(keys) else torch.zeros_like(query, dtype=torch.bool)).to(a.device)
        return masks
