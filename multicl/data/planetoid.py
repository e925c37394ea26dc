"""Graphs as tensors: :class:`GraphData`, the Planetoid reader (Cora, CiteSeer, PubMed) and the
bad-input policy every graph goes through (:func:`check_graph`).

The Planetoid files (``ind.{name}.{x,y,tx,ty,allx,ally,graph,test.index}``, pickles read with
``encoding="latin1"``) are read here without PyG, the same way PyG's ``read_planetoid_data`` does:
features = allx stacked with tx put back in ``test.index`` order, edges from the adjacency dict
made undirected and deduplicated, the public split = the first 20 labels per class (the
rows of ``y``), the next 500 nodes for validation and the 1000 ``test.index`` nodes for test.
CiteSeer's test ids with no node ("isolated" in the files) get zero features and label -1.
"""
from __future__ import annotations

import logging
import pickle
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

logger = logging.getLogger(__name__)
PLANETOID_NAMES = ("Cora", "CiteSeer", "PubMed")
_SUFFIXES = ("x", "tx", "allx", "y", "ty", "ally", "graph", "test.index")


@dataclass(frozen=True)
class GraphData:
    """One graph: ``x`` (N, F) float, ``edge_index`` (2, E) long (directed pairs; undirected
    graphs hold both directions), optional ``y`` (N,) and boolean split masks (N,)."""

    x: torch.Tensor
    edge_index: torch.Tensor
    y: torch.Tensor | None = None
    train_mask: torch.Tensor | None = None
    val_mask: torch.Tensor | None = None
    test_mask: torch.Tensor | None = None

    @property
    def num_nodes(self) -> int:
        return int(self.x.shape[0])

    @property
    def num_edges(self) -> int:
        return int(self.edge_index.shape[1])


# -- bad-input policy ----------------------------------------------------------------------------
@dataclass(frozen=True)
class GraphInputPolicy:
    """What :func:`check_graph` does with each kind of bad input.

    out_of_range_edges: ``"error"`` (default: an edge naming node >= N or < 0 is a corrupt file)
        or ``"drop"`` (remove those edges, logged).
    nan_features: ``"error"`` (default) or ``"zero"`` (replace NaN/inf by 0, logged).
    self_loops: ``"keep"`` (default; GCN adds its own anyway), ``"remove"``.
    isolated_nodes: ``"keep"`` (default: they still get an embedding from their own features;
        the count is logged) or ``"error"``.
    """

    out_of_range_edges: str = "error"
    nan_features: str = "error"
    self_loops: str = "keep"
    isolated_nodes: str = "keep"

    def __post_init__(self) -> None:
        allowed = {"out_of_range_edges": ("error", "drop"), "nan_features": ("error", "zero"),
                   "self_loops": ("keep", "remove"), "isolated_nodes": ("keep", "error")}
        for name, options in allowed.items():
            if getattr(self, name) not in options:
                raise ValueError(f"{name} must be one of {options}, got {getattr(self, name)!r}")


def check_graph(graph: GraphData, policy: GraphInputPolicy | None = None) -> tuple[GraphData, dict[str, int]]:
    """Validate ``graph`` under ``policy`` -> (the graph to use, counts of what was found)."""
    policy = policy or GraphInputPolicy()
    x, edge_index = graph.x, graph.edge_index
    if x.ndim != 2:
        raise ValueError(f"node features must be (num_nodes, num_features), got shape {tuple(x.shape)}")
    if edge_index.ndim != 2 or edge_index.shape[0] != 2:
        raise ValueError(f"edge_index must be (2, num_edges) of node ids, got shape {tuple(edge_index.shape)}; "
                         f"transpose an (E, 2) edge list")
    if edge_index.dtype not in (torch.int64, torch.int32):
        raise ValueError(f"edge_index must hold integer node ids, got {edge_index.dtype}")
    n = x.shape[0]
    report: dict[str, int] = {}
    edge_index = edge_index.long()
    bad = (edge_index < 0).any(0) | (edge_index >= n).any(0)
    report["out_of_range_edges"] = int(bad.sum())
    if bad.any():
        if policy.out_of_range_edges == "error":
            first = edge_index[:, bad][:, :3].T.tolist()
            raise ValueError(f"{int(bad.sum())} edges point outside the node range [0, {n}) (e.g. {first}); "
                             f"fix the edge list or pass GraphInputPolicy(out_of_range_edges='drop')")
        logger.warning("dropping %d edges that point outside [0, %d)", int(bad.sum()), n)
        edge_index = edge_index[:, ~bad]
    finite = torch.isfinite(x)
    report["non_finite_features"] = int((~finite).sum())
    if not finite.all():
        rows = (~finite).any(1).nonzero().flatten()[:5].tolist()
        if policy.nan_features == "error":
            raise ValueError(f"{int((~finite).sum())} node features are NaN or infinite (nodes {rows}...); impute them "
                             f"or pass GraphInputPolicy(nan_features='zero')")
        logger.warning("replacing %d NaN/inf node features by 0", int((~finite).sum()))
        x = torch.where(finite, x, torch.zeros_like(x))
    loops = edge_index[0] == edge_index[1]
    report["self_loops"] = int(loops.sum())
    if loops.any() and policy.self_loops == "remove":
        edge_index = edge_index[:, ~loops]
    degree = torch.zeros(n, dtype=torch.long).index_add_(0, edge_index.flatten().cpu(), torch.ones(edge_index.numel(), dtype=torch.long))
    report["isolated_nodes"] = int((degree == 0).sum())
    if report["isolated_nodes"] and policy.isolated_nodes == "error":
        raise ValueError(f"{report['isolated_nodes']} nodes have no edge; pass GraphInputPolicy(isolated_nodes='keep') to embed "
                         f"them from their features alone")
    if report["isolated_nodes"]:
        logger.info("%d isolated nodes (embedded from their own features)", report["isolated_nodes"])
    return replace(graph, x=x, edge_index=edge_index), report


# -- Planetoid -----------------------------------------------------------------------------------
def planetoid_raw_dir(data_dir: str | Path, name: str) -> Path:
    """The folder holding ``ind.{name}.*``: ``data_dir`` itself, ``data_dir/raw``,
    ``data_dir/{name}/raw`` or ``data_dir/planetoid/raw`` (the shared layout)."""
    if name not in PLANETOID_NAMES:
        raise ValueError(f"unknown Planetoid set {name!r}; expected one of {PLANETOID_NAMES}")
    root = Path(data_dir)
    prefix = f"ind.{name.lower()}."
    candidates = [root, root / "raw", root / name / "raw", root / "planetoid" / "raw", root / "graph" / "planetoid" / "raw"]
    for folder in candidates:
        if all((folder / (prefix + s)).is_file() for s in _SUFFIXES):
            return folder
    found = [c for c in candidates if c.is_dir() and any(c.glob(prefix + "*"))]
    where = found[0] if found else root
    missing = [prefix + s for s in _SUFFIXES if not (where / (prefix + s)).is_file()]
    raise FileNotFoundError(f"Planetoid {name}: raw files missing in {where} ({missing}); expected the 8 files "
                            f"ind.{name.lower()}.{{{','.join(_SUFFIXES)}}} in one of {[str(c) for c in candidates]}. "
                            f"Nothing is downloaded: copy them from github.com/kimiyoung/planetoid (data/)")


def _load(path: Path):
    if path.name.endswith("test.index"):
        return np.array([int(line) for line in path.read_text().split()], dtype=np.int64)
    with open(path, "rb") as fh, warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the pickles name scipy.sparse.csr (an old module path)
        out = pickle.load(fh, encoding="latin1")
    return out.toarray() if hasattr(out, "toarray") else out


def load_planetoid(data_dir: str | Path, name: str = "Cora", policy: GraphInputPolicy | None = None) -> GraphData:
    """Read a Planetoid set with its public split (20 per class / 500 / 1000)."""
    raw = planetoid_raw_dir(data_dir, name)
    parts = {s: _load(raw / f"ind.{name.lower()}.{s}") for s in _SUFFIXES}
    test_index = parts["test.index"]
    sorted_test = np.sort(test_index)
    tx, ty = np.asarray(parts["tx"], dtype=np.float32), np.asarray(parts["ty"])
    if name == "CiteSeer":  # some test ids have no node: pad with zero rows (PyG does the same)
        full = sorted_test.max() - sorted_test.min() + 1
        tx_ext = np.zeros((full, tx.shape[1]), dtype=np.float32)
        ty_ext = np.zeros((full, ty.shape[1]))
        tx_ext[sorted_test - sorted_test.min()] = tx
        ty_ext[sorted_test - sorted_test.min()] = ty
        tx, ty = tx_ext, ty_ext
    x = np.concatenate([np.asarray(parts["allx"], dtype=np.float32), tx])
    labels = np.concatenate([np.asarray(parts["ally"]), ty])
    y = np.where(labels.sum(1) > 0, labels.argmax(1), -1)
    x[test_index], y[test_index] = x[sorted_test].copy(), y[sorted_test].copy()
    n = x.shape[0]
    rows, cols = [], []
    for node, neighbours in parts["graph"].items():
        for other in neighbours:
            rows.append(node)
            cols.append(other)
    pairs = np.array([rows + cols, cols + rows], dtype=np.int64)  # both directions
    pairs = pairs[:, (pairs < n).all(0)]  # PubMed/CiteSeer list a few ids with no node
    key = np.unique(pairs[0] * n + pairs[1])
    edge_index = torch.from_numpy(np.stack([key // n, key % n]))
    num_train = len(parts["y"])
    train_mask = torch.zeros(n, dtype=torch.bool)
    train_mask[:num_train] = True
    val_mask = torch.zeros(n, dtype=torch.bool)
    val_mask[num_train:num_train + 500] = True
    test_mask = torch.zeros(n, dtype=torch.bool)
    test_mask[torch.from_numpy(sorted_test)] = True
    graph = GraphData(torch.from_numpy(x), edge_index, torch.from_numpy(y).long(), train_mask, val_mask, test_mask)
    graph, _ = check_graph(graph, policy)
    return graph
