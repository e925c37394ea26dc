"""Gathered negatives are exact: 2 gloo processes x batch B == 1 process x batch 2B.

Each rank embeds its own B anchors and positives; ``GatheredNegatives`` all-gathers the other
rank's positives (with gradient), so every anchor is scored against all 2B positives, as in one
process with the whole batch. Gradients are averaged over ranks as DDP does. The script prints
the loss of both set-ups and the largest absolute difference of loss and of every gradient.

    python benchmarks/ddp_equivalence.py [--batch 16] [--dim 8] [--objective info_nce]
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from multicl.modalities.vector import VectorAdapter
from multicl.modalities.views_dataset import ViewsDataset
from multicl.negatives.masks import FalseNegativePolicy
from multicl.negatives.sources import ExplicitHardNegatives, GatheredNegatives
from multicl.objectives import build_objective
from multicl.train.learner import ContrastiveLearner


def build(batch: int, dim: int, objective: str, gathered: bool):
    x = np.random.default_rng(0).normal(size=(4 * batch, dim)).astype(np.float32)
    adapter = VectorAdapter(x, corruption=0.3, embed_dim=8, hidden_dims=(16,))
    torch.manual_seed(0)
    encoder = adapter.build_encoder()
    sources = [ExplicitHardNegatives(), GatheredNegatives()] if gathered else None
    learner = ContrastiveLearner(encoder, build_objective(objective, temperature=0.1), policy=FalseNegativePolicy(), sources=sources)
    learner.eval()  # no dropout/batch-norm noise: the comparison is of the maths, not of RNG streams
    dataset = ViewsDataset(list(range(len(x))), adapter, seed=0)
    return adapter, learner, dataset


def step(learner, batch) -> tuple[float, dict[str, torch.Tensor]]:
    learner.zero_grad()
    loss = learner(batch)
    loss.backward()
    return float(loss.detach()), {n: p.grad.detach().clone() for n, p in learner.named_parameters() if p.grad is not None}


def worker(rank: int, world: int, port: int, args, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        adapter, learner, dataset = build(args.batch, args.dim, args.objective, gathered=True)
        rows = range(rank * args.batch, (rank + 1) * args.batch)  # rank r holds the r-th half of the big batch
        loss, grads = step(learner, adapter.collate([dataset[i] for i in rows]))
        total = torch.tensor([loss])
        dist.all_reduce(total)
        for g in grads.values():  # what DDP does: average the ranks' gradients
            dist.all_reduce(g)
            g.div_(world)
        if rank == 0:
            torch.save({"loss": float(total) / world, "grads": grads}, out)
        dist.barrier()  # no rank tears gloo down while the other is still communicating
    finally:
        dist.destroy_process_group()
    # gloo's background threads can abort the interpreter's own teardown ("terminate called without an
    # active exception", seen on a loaded 2-core machine); the work is done and saved: leave at once
    os._exit(0)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=16, help="per-rank batch B (the single process gets 2B)")
    parser.add_argument("--dim", type=int, default=8)
    parser.add_argument("--objective", default="info_nce")
    args = parser.parse_args(argv)
    adapter, learner, dataset = build(args.batch, args.dim, args.objective, gathered=False)
    single_loss, single_grads = step(learner, adapter.collate([dataset[i] for i in range(2 * args.batch)]))
    with tempfile.TemporaryDirectory() as tmp:
        out = str(Path(tmp) / "ranks.pt")
        mp.spawn(worker, args=(2, free_port(), args, out), nprocs=2, join=True)
        ranks = torch.load(out, weights_only=True)
    grad_diff = max(float((ranks["grads"][k] - single_grads[k]).abs().max()) for k in single_grads)
    result = {"objective": args.objective, "batch_per_rank": args.batch, "loss_1x2B": single_loss, "loss_2xB": ranks["loss"],
              "max_abs_loss_diff": abs(single_loss - ranks["loss"]), "max_abs_grad_diff": grad_diff,
              "parameters_compared": len(single_grads)}
    print("| set-up | loss |\n|---|---|")
    print(f"| 1 process x batch {2 * args.batch} | {single_loss:.8f} |")
    print(f"| 2 gloo processes x batch {args.batch}, gathered negatives | {ranks['loss']:.8f} |")
    print(f"max |loss diff| {result['max_abs_loss_diff']:.2e}; max |grad diff| over {len(single_grads)} tensors {grad_diff:.2e}")
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    sys.exit(0 if main()["max_abs_grad_diff"] < 1e-5 else 1)
