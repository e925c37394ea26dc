"""CUDA: count host synchronisations inside training steps (``torch.cuda.set_sync_debug_mode``).

Trains a few steps of InfoNCE + policy, MoCo, BYOL, DINO and SwAV on random vectors on
``cuda:0`` with logging, evaluation and checkpoints only at the last step, and prints, per
method, how many synchronising calls CUDA reported during the steps before it (target: 0; the
data pipeline runs on the CPU and is not counted). Part of ``benchmarks/gpu_check.sh``.

    .venv/bin/python benchmarks/cuda_sync_check.py
"""
from __future__ import annotations

import sys
import tempfile
import warnings

import numpy as np
import torch

from multicl.modalities.vector import VectorAdapter
from multicl.modalities.views_dataset import ViewsDataset
from multicl.negatives.masks import FalseNegativePolicy
from multicl.objectives import build_objective
from multicl.train.config import TrainerConfig
from multicl.train.learner import ContrastiveLearner
from multicl.train.methods import build_learner
from multicl.train.trainer import Trainer
from multicl.types.hooks import NoOpHook


class SyncCounter(NoOpHook):
    """Turns CUDA's sync warnings on for every step but the last (which logs and saves)."""

    def __init__(self, total: int) -> None:
        self.total, self.count = total, 0

    def before_step(self, step: int) -> None:
        if step + 1 < self.total:
            torch.cuda.set_sync_debug_mode("warn")

    def after_step(self, step: int) -> None:
        torch.cuda.set_sync_debug_mode("default")


def run(method: str, steps: int = 6) -> int:
    x = np.random.default_rng(0).normal(size=(256, 32)).astype(np.float32)
    adapter = VectorAdapter(x, corruption=0.3, labels=np.arange(256) % 8, embed_dim=64, hidden_dims=(128,))
    torch.manual_seed(0)
    if method == "info_nce_policy":
        learner = ContrastiveLearner(adapter.build_encoder(), build_objective("info_nce"), policy=FalseNegativePolicy(same_label=True))
    else:
        learner = build_learner(method, adapter.build_encoder(), 64, queue_size=128, dataset_size=256, num_prototypes=32)
    counter = SyncCounter(steps)
    hooks = learner.training_hooks
    learner.training_hooks = lambda: [*hooks(), counter]  # the counter rides along as one more hook
    with tempfile.TemporaryDirectory() as out:
        cfg = TrainerConfig(out_dir=out, max_steps=steps, batch_size=64, log_every=1000, save_every=1000, device="cuda:0",
                            progress_bar=False, tensorboard=False, max_grad_norm=1.0)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            Trainer(learner, ViewsDataset(list(range(256)), adapter), adapter.collate, cfg).train()
    return sum("synchroniz" in str(w.message).lower() for w in caught)


def main() -> int:
    if not torch.cuda.is_available():
        print("cuda_sync_check: CUDA is not available on this machine; run it on a GPU (benchmarks/gpu_check.sh)")
        return 2
    rows = [(m, run(m)) for m in ("info_nce_policy", "moco", "byol", "dino", "swav")]
    print("| method | synchronising calls in 5 training steps (target 0) |\n|---|---|")
    for method, n in rows:
        print(f"| {method} | {n} |")
    return 0 if all(n == 0 for _, n in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
