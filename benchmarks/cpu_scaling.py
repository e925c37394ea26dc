"""CPU data-parallel scaling: 1 process vs 2 gloo processes (DDP through the Trainer).

The same training (an MLP encoder on dense rows, InfoNCE with gathered negatives under DDP) runs
for ``--steps`` optimizer steps with ``--batch`` anchors per process: 1 process, then 2
processes (global batch 2x). Each process gets ``--threads`` intra-op threads. Reports steps/s,
samples/s (global) and the scaling efficiency ``samples/s(2) / (2 * samples/s(1))``. On a
2-core machine 2 processes x 1 thread compete with anything else running: say so with the
numbers.

    python benchmarks/cpu_scaling.py [--steps 60] [--batch 256] [--threads 1]
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def train_once(out_dir: str, steps: int, batch: int) -> None:
    import numpy as np
    import torch

    from multicl.modalities.vector import VectorAdapter
    from multicl.modalities.views_dataset import ViewsDataset
    from multicl.negatives.sources import ExplicitHardNegatives, GatheredNegatives
    from multicl.objectives import build_objective
    from multicl.train.config import TrainerConfig
    from multicl.train.learner import ContrastiveLearner
    from multicl.train.trainer import Trainer

    x = np.random.default_rng(0).normal(size=(8192, 256)).astype(np.float32)
    adapter = VectorAdapter(x, corruption=0.3, embed_dim=128, hidden_dims=(1024, 1024))
    torch.manual_seed(0)
    learner = ContrastiveLearner(adapter.build_encoder(), build_objective("info_nce", temperature=0.1),
                                 sources=[ExplicitHardNegatives(), GatheredNegatives()])
    cfg = TrainerConfig(out_dir=out_dir, max_steps=steps, batch_size=batch, learning_rate=1e-3, device="cpu", save_every=0,
                        progress_bar=False, tensorboard=False, log_every=steps)
    summary = Trainer(learner, ViewsDataset(list(range(len(x))), adapter), adapter.collate, cfg).train()
    rank = int(os.environ.get("RANK", "0"))
    Path(out_dir, f"summary-rank{rank}.json").write_text(json.dumps(summary))


def run(processes: int, steps: int, batch: int, threads: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as out:
        env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MASTER_ADDR": "127.0.0.1"}
        script = [str(Path(__file__).resolve()), "--worker", out, "--steps", str(steps), "--batch", str(batch)]
        if processes == 1:
            cmd = [sys.executable] + script
        else:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(processes), "--master_port", str(port)] + script
        start = time.perf_counter()
        subprocess.run(cmd, env=env, check=True, capture_output=True)
        wall = time.perf_counter() - start
        summary = json.loads(Path(out, "summary-rank0.json").read_text())
    train_seconds = summary["train_seconds"]
    return {"processes": processes, "steps_per_second": steps / train_seconds,
            "samples_per_second": processes * batch * steps / train_seconds, "wall_seconds": wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--batch", type=int, default=256, help="anchors per process")
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads per process")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--out", help="write the rows as JSON here")
    args = parser.parse_args()
    if args.worker:
        train_once(args.worker, args.steps, args.batch)
        return
    rows = [run(p, args.steps, args.batch, args.threads) for p in (1, 2)]
    efficiency = rows[1]["samples_per_second"] / (2 * rows[0]["samples_per_second"])
    print(f"MLP 256-1024-1024-128, InfoNCE (+ gathered negatives under DDP), batch {args.batch} per process, "
          f"{args.steps} steps, {args.threads} thread(s) per process, CPU ({os.cpu_count()} cores)")
    print("| processes | steps/s | samples/s (global) | wall s |\n|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['processes']} | {r['steps_per_second']:.2f} | {r['samples_per_second']:.0f} | {r['wall_seconds']:.1f} |")
    print(f"scaling efficiency (2 processes): {efficiency:.2f}")
    if args.out:
        Path(args.out).write_text(json.dumps({"rows": rows, "efficiency": efficiency, "args": vars(args)}, indent=2))


if __name__ == "__main__":
    main()
