"""The per-rank BatchNorm shortcut, on CPU (2 gloo processes), and GlobalBatchNorm removing it.

Two ranks train the same MLP encoder (Linear-BatchNorm-ReLU) with gathered negatives: each
anchor is scored against its own rank's B positives and the other rank's B. With per-rank
BatchNorm, an anchor's own-rank candidates (its positive among them) were normalised with the
same batch statistics as the anchor, the other rank's with others: a signature that separates
"same rank" from "other rank" without any content. torch's SyncBatchNorm does not run on CPU,
so the fix measured is :class:`multicl.train.sync_bn.GlobalBatchNorm` (all-reduced statistics).

Printed per set-up, in training mode on fresh batches after training:
* ``other-rank share``: of the softmax mass an anchor puts on its negatives, the share on the
  other rank's; B / (2B - 1) when the rank is invisible, lower when the model uses it;
* ``rank probe``: accuracy of telling same-rank from other-rank negatives by similarity alone
  (AUC of cos(anchor, negative) for same-rank vs other-rank negatives; 0.5: no signature);
* ``loss`` (training mode) and ``probe R@1`` (eval mode, running statistics: anchor -> its
  positive among 256 held-out rows): what was really learned.

    python benchmarks/syncbn_leak.py [--steps 300] [--batch 4]
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
import torch.nn.functional as F

from multicl.modalities.vector import VectorAdapter
from multicl.modalities.views_dataset import ViewsDataset
from multicl.negatives.sources import ExplicitHardNegatives, GatheredNegatives
from multicl.objectives import build_objective
from multicl.train.learner import ContrastiveLearner
from multicl.train.sync_bn import convert_global_batchnorm


def _auc(pos: np.ndarray, neg: np.ndarray) -> float:
    scores = np.concatenate([pos, neg])
    ranks = scores.argsort().argsort() + 1
    return float((ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def worker(rank: int, world: int, port: int, args, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        rng = np.random.default_rng(0)
        x = rng.normal(size=(4096, 16)).astype(np.float32)
        adapter = VectorAdapter(x, corruption=args.corruption, embed_dim=16, hidden_dims=(64, 64))
        dataset = ViewsDataset(list(range(len(x))), adapter, seed=rank)
        results = {}
        for name in ("per_rank_bn", "global_bn"):
            torch.manual_seed(0)
            learner = ContrastiveLearner(adapter.build_encoder(), build_objective("info_nce", temperature=0.1),
                                         sources=[ExplicitHardNegatives(), GatheredNegatives()])
            if name == "global_bn":
                convert_global_batchnorm(learner)
            opt = torch.optim.Adam(learner.parameters(), lr=args.lr)
            order = np.random.default_rng(100 + rank).permutation(len(x) - 256)
            b = args.batch
            learner.train()
            for step in range(args.steps):
                rows = order[(step * b) % len(order):][:b]
                loss = learner(adapter.collate([dataset[int(i)] for i in rows]))
                opt.zero_grad()
                loss.backward()
                for p in learner.parameters():
                    if p.grad is not None:
                        dist.all_reduce(p.grad)
                        p.grad.div_(world)
                opt.step()
            shares, same, other, losses = [], [], [], []
            with torch.no_grad():
                for step in range(50):
                    rows = order[((args.steps + step) * b) % len(order):][:b]
                    batch = adapter.collate([dataset[int(i)] for i in rows])
                    z = learner.towers.embed_anchors(type(batch.anchors.inputs).cat([batch.anchors.inputs, batch.positives.inputs]))
                    a, k = F.normalize(z[:b], dim=-1), F.normalize(z[b:], dim=-1)
                    keys = torch.cat(torch.distributed.nn.functional.all_gather(k))  # rank order
                    sims = a @ keys.T
                    logits = sims / 0.1
                    own = torch.zeros(world * b, dtype=torch.bool)
                    own[rank * b:(rank + 1) * b] = True
                    for i in range(b):
                        neg = torch.ones(world * b, dtype=torch.bool)
                        neg[rank * b + i] = False
                        p = logits[i][neg].softmax(-1)
                        shares.append(float(p[~own[neg]].sum()))
                        same.extend(sims[i][neg & own].tolist())
                        other.extend(sims[i][neg & ~own].tolist())
                    losses.append(float(F.cross_entropy(logits, torch.arange(b) + rank * b)))
                learner.eval()
                held = torch.from_numpy(x[-256:])
                noisy = held + args.corruption * torch.from_numpy(np.random.default_rng(7).normal(size=held.shape).astype(np.float32))
                qa = F.normalize(learner.towers.embed_anchors({"x": held}), dim=-1)
                qb = F.normalize(learner.towers.embed_anchors({"x": noisy}), dim=-1)
                r1 = float(((qa @ qb.T).argmax(-1) == torch.arange(256)).float().mean())
                learner.train()
            results[name] = {"other_rank_share": float(np.mean(shares)), "uniform_share": b / (2 * b - 1),
                             "rank_auc": _auc(np.array(same), np.array(other)), "loss": float(np.mean(losses)), "probe_r1": r1}
        gathered = [None] * world
        dist.all_gather_object(gathered, results)
        if rank == 0:
            Path(out).write_text(json.dumps(gathered))
    finally:
        dist.destroy_process_group()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch", type=int, default=4, help="anchors per rank (small: the statistics differ most)")
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--corruption", type=float, default=0.9)
    args = parser.parse_args(argv)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tempfile.TemporaryDirectory() as tmp:
        out = str(Path(tmp) / "r.json")
        mp.spawn(worker, args=(2, port, args, out), nprocs=2, join=True)
        ranks = json.loads(Path(out).read_text())
    print(f"2 gloo processes x {args.batch} anchors, gathered negatives, {args.steps} steps, corruption {args.corruption}")
    print("| BatchNorm | other-rank share of negative mass (uniform %.3f) | same- vs other-rank similarity AUC | train loss | eval R@1 |" % ranks[0]["per_rank_bn"]["uniform_share"])
    print("|---|---:|---:|---:|---:|")
    for name, label in (("per_rank_bn", "per rank (no sync)"), ("global_bn", "GlobalBatchNorm (all-reduced)")):
        r = {k: float(np.mean([rk[name][k] for rk in ranks])) for k in ranks[0][name]}
        print(f"| {label} | {r['other_rank_share']:.3f} | {r['rank_auc']:.3f} | {r['loss']:.3f} | {r['probe_r1']:.3f} |")
    print(json.dumps(ranks))
    return ranks


if __name__ == "__main__":
    main()
