"""Full batch vs neighbour-sampled training on a generated graph: time and peak memory per epoch.

    OMP_NUM_THREADS=1 python benchmarks/graph_sampler.py --nodes 200000 --out benchmarks/results/graph/sampler.json

Each mode runs in its own subprocess (so ``ru_maxrss`` is that mode's peak). The objective is
CCA-SSG (O(N D^2), no N x N matrix) through the stock SiameseLearner; GCN 64 -> 128 -> 128.
``full``: one step over all nodes (an epoch is one step). ``sampled``: seed batches of
``--batch-size`` with fanouts (10, 5) through :class:`multicl.data.graph_sampler.NeighbourSampler`;
``--max-batches`` batches are timed and the epoch time is extrapolated (said in the output).
GRACE's full-batch loss would need a (2N)^2 matrix: 2N = 400k -> 640 GB in float32; its chunked
form needs O(B N) memory but still O(N^2) time, which is why sampling is the way at this size.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time


def measure(mode: str, nodes: int, batch_size: int, max_batches: int, seed: int) -> dict:
    import torch

    from multicl.data.graph_synthetic import community_graph
    from multicl.modalities.graph import GraphAdapter
    from multicl.modalities.views_dataset import ViewsDataset
    from multicl.objectives import build_objective
    from multicl.train.siamese import SiameseLearner
    from multicl.views.graph import Compose, DropEdges, MaskFeatures

    t0 = time.time()
    graph = community_graph(nodes, seed=seed)
    build_s = time.time() - t0
    rss_graph = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    views = Compose([DropEdges(0.3), MaskFeatures(0.2)])
    adapter = GraphAdapter("node", graph, view_a=views, view_b=views, hidden_dims=(128, 128), activation="relu",
                           sampler_fanouts=(10, 5) if mode == "sampled" else None)
    torch.manual_seed(seed)
    learner = SiameseLearner(adapter.build_encoder(), build_objective("cca_ssg"), stop_gradient=False, symmetric=False)
    opt = torch.optim.Adam(learner.parameters(), lr=1e-3)
    ds = ViewsDataset(list(range(nodes)), adapter, seed=seed)
    order = torch.randperm(nodes, generator=torch.Generator().manual_seed(seed)).tolist()
    rows = nodes if mode == "full" else batch_size
    batches = [order[i:i + rows] for i in range(0, nodes, rows)]
    timed = batches[: (1 if mode == "full" else max_batches)]
    t0 = time.time()
    losses, nodes_seen = [], []
    for batch_nodes in timed:
        batch = adapter.collate([ds[i] for i in batch_nodes])
        nodes_seen.append(batch.anchors.inputs.num_nodes)
        loss = learner(batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    elapsed = time.time() - t0
    return {"mode": mode, "nodes": nodes, "edges": graph.num_edges, "graph_build_s": build_s,
            "batches_timed": len(timed), "batches_per_epoch": len(batches), "seconds_timed": elapsed,
            "epoch_seconds": elapsed * len(batches) / len(timed), "epoch_extrapolated": len(timed) < len(batches),
            "mean_subgraph_nodes": sum(nodes_seen) / len(nodes_seen), "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "rss_after_graph_mb": rss_graph, "losses": losses[:3]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=200_000)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--max-batches", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mode", choices=("full", "sampled", "both"), default="both")
    parser.add_argument("--out", default="benchmarks/results/graph/sampler.json")
    args = parser.parse_args(argv)
    if args.mode != "both":
        print(json.dumps(measure(args.mode, args.nodes, args.batch_size, args.max_batches, args.seed)))
        return
    results = []
    for mode in ("full", "sampled"):
        cmd = [sys.executable, __file__, "--mode", mode, "--nodes", str(args.nodes), "--batch-size", str(args.batch_size),
               "--max-batches", str(args.max_batches), "--seed", str(args.seed)]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
        results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        print(results[-1])
    with open(args.out, "w") as fh:
        json.dump({"results": results, "note": "peak_rss_mb is the subprocess's max RSS (graph + model + step); "
                   "epoch_seconds of the sampled mode is extrapolated from batches_timed batches"}, fh, indent=1)


if __name__ == "__main__":
    main()
