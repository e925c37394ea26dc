"""A run with a miner, a queue and an EMA key tower, killed and resumed, ends where the
uninterrupted run ends (to 1e-6 on CPU): the miner's candidate lists and step, the queue, the
EMA copy and every RNG come back from the checkpoint."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from multicl.modalities.vector import VectorAdapter
from multicl.modalities.views_dataset import ViewsDataset
from multicl.negatives.masks import FalseNegativePolicy
from multicl.negatives.miner import HardNegativeMiner, MinerConfig, corpus_from_dataset
from multicl.objectives import build_objective
from multicl.train.config import TrainerConfig
from multicl.train.learner import ContrastiveLearner
from multicl.train.momentum import MomentumSchedule
from multicl.train.trainer import Trainer


class Killed(Exception):
    pass


def build(out_dir, callbacks=()):
    x = np.random.default_rng(0).normal(size=(96, 6)).astype(np.float32)
    adapter = VectorAdapter(x, corruption=0.3, embed_dim=8, hidden_dims=(16,))
    samples = list(range(len(x)))
    policy = FalseNegativePolicy(same_group=True)
    corpus, meta = corpus_from_dataset(samples, adapter)
    miner = HardNegativeMiner(corpus, adapter, corpus_meta=meta, policy=policy,
                              config=MinerConfig(num_negatives=2, top_k=16, rank_window=(0, 8), refresh_every=3, index="exact"))
    torch.manual_seed(0)
    learner = ContrastiveLearner(adapter.build_encoder(), build_objective("info_nce", temperature=0.2), policy=policy,
                                 momentum=MomentumSchedule(0.9, 0.99), queue_size=32, embed_dim=8, dataset_size=len(x), miner=miner)
    cfg = TrainerConfig(out_dir=str(out_dir), max_steps=8, batch_size=16, learning_rate=1e-2, device="cpu", save_every=2,
                        progress_bar=False, tensorboard=False, log_every=1)
    return Trainer(learner, ViewsDataset(samples, adapter), adapter.collate, cfg, callbacks=callbacks), learner, miner


def test_resume_with_a_miner_equals_the_uninterrupted_run(tmp_path):
    trainer, straight, straight_miner = build(tmp_path / "straight")
    trainer.train()

    def kill_at_5(step, logs):
        if step == 5:
            raise Killed

    trainer, _, _ = build(tmp_path / "resumed", callbacks=[kill_at_5])
    with pytest.raises(Killed):
        trainer.train()
    trainer, resumed, resumed_miner = build(tmp_path / "resumed")  # a fresh process would rebuild everything
    summary = trainer.train()
    assert summary["resumed_from_step"] == 4 and summary["steps"] == 8
    assert resumed_miner.refreshes == straight_miner.refreshes == 3  # steps 0, 3, 6: none repeated, none lost
    np.testing.assert_array_equal(resumed_miner._candidates, straight_miner._candidates)
    a, b = straight.state_dict(), resumed.state_dict()
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(b[key], a[key], atol=1e-6, rtol=0, msg=key)  # weights, EMA copy and queue
