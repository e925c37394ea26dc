"""The training step reads nothing back from the device between logging intervals.

On CUDA every ``bool(t)``, ``float(t)``, ``int(t)``, ``t.item()`` or ``t.tolist()`` waits for the
GPU; CPU tests cannot see that wait, so they count the calls themselves: a run of more steps
with the same logging, evaluation and checkpoint points must make no more of them.
"""
import sys

import numpy as np
import pytest
import torch

from multicl.modalities.vector import VectorAdapter
from multicl.modalities.views_dataset import ViewsDataset
from multicl.negatives.masks import FalseNegativePolicy
from multicl.objectives import build_objective
from multicl.train.config import TrainerConfig
from multicl.train.learner import ContrastiveLearner
from multicl.train.methods import build_learner
from multicl.train.trainer import Trainer

READS = ("__bool__", "__float__", "__int__", "item", "tolist")
# the data pipeline (sampler, loader, collate) works on CPU tensors of its own, never on the device
DATA_PIPELINE = ("multicl/data/", "torch/utils/data/")


@pytest.fixture
def device_reads(monkeypatch):
    counter = {"n": 0}
    for name in READS:
        original = getattr(torch.Tensor, name)

        def counted(self, *args, _original=original, **kwargs):
            caller = sys._getframe(1).f_code.co_filename
            if not any(part in caller for part in DATA_PIPELINE):
                counter["n"] += 1
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, counted)
    return counter


def reads_for(steps, make_learner, tmp_path, device_reads):
    x = np.random.default_rng(0).normal(size=(64, 8)).astype(np.float32)
    labels = np.arange(64) % 4
    adapter = VectorAdapter(x, corruption=0.3, labels=labels, embed_dim=16, hidden_dims=(32,))
    torch.manual_seed(0)
    learner = make_learner(adapter)
    cfg = TrainerConfig(out_dir=str(tmp_path / f"run{steps}"), max_steps=steps, batch_size=16, log_every=1000, progress_bar=False,
                        tensorboard=False, save_every=1000, max_grad_norm=1.0)
    trainer = Trainer(learner, ViewsDataset(list(range(64)), adapter), adapter.collate, cfg)
    before = device_reads["n"]
    trainer.train()
    return device_reads["n"] - before


@pytest.mark.parametrize("method", ["info_nce_policy", "moco", "byol", "dino", "swav"])
def test_no_device_reads_between_logging_intervals(method, tmp_path, device_reads):
    def make(adapter):
        if method == "info_nce_policy":  # the pool, the policy's masks and their statistics
            return ContrastiveLearner(adapter.build_encoder(), build_objective("info_nce"), policy=FalseNegativePolicy(same_label=True))
        return build_learner(method, adapter.build_encoder(), 16, queue_size=32, dataset_size=64, num_prototypes=8)

    short, long = reads_for(3, make, tmp_path, device_reads), reads_for(9, make, tmp_path, device_reads)
    assert long == short, f"{long - short} device reads in 6 extra steps that log, evaluate and save nothing"
