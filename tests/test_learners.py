"""MoCo (queue + momentum), the Siamese methods, and the collapse monitor."""
import numpy as np
import pytest
import torch

from multicl.modalities.views_dataset import ViewsDataset
from multicl.modalities.vector import VectorAdapter
from multicl.negatives.queue import KeyQueue
from multicl.objectives import build_objective
from multicl.train.config import TrainerConfig
from multicl.train.learner import ContrastiveLearner
from multicl.train.methods import METHODS, build_learner
from multicl.train.momentum import MomentumEncoder, MomentumSchedule
from multicl.train.monitor import CollapseMonitor, effective_rank, embedding_health, uniformity
from multicl.train.trainer import Trainer


def blobs(n=96, dim=8, classes=4, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 3, size=(classes, dim))
    labels = rng.integers(0, classes, size=n)
    return (centres[labels] + rng.normal(0, 0.5, size=(n, dim))).astype(np.float32), labels


def batch_of(adapter, indices, seed=0):
    ds = ViewsDataset(list(range(len(adapter.marginals))), adapter, seed=seed)
    return adapter.collate([ds[i] for i in indices])


def test_queue_ring_buffer_and_metadata():
    queue = KeyQueue(size=5, dim=2)
    queue.enqueue(torch.ones(3, 2), {"instance_id": torch.tensor([0, 1, 2]), "group_id": torch.tensor([0, 1, 2])})
    queue.enqueue(2 * torch.ones(3, 2), {"instance_id": torch.tensor([3, 4, 5]), "group_id": torch.tensor([3, 4, 5])})
    keys, meta = queue.contents()
    assert len(queue) == 5 and keys.shape == (5, 2)
    assert sorted(meta["instance_id"].tolist()) == [1, 2, 3, 4, 5]  # instance 0 was overwritten
    with pytest.raises(ValueError, match="metadata"):
        queue.enqueue(torch.ones(1, 2), {"instance_id": torch.tensor([9])})


def test_empty_queue_moco_equals_in_batch_info_nce_and_queue_masks_own_instances():
    x, _ = blobs()
    adapter = VectorAdapter(x, corruption=0.2)
    torch.manual_seed(0)
    encoder = adapter.build_encoder()
    batch = batch_of(adapter, range(8))
    plain = ContrastiveLearner(encoder, build_objective("info_nce", temperature=0.2))
    moco = ContrastiveLearner(encoder, build_objective("info_nce", temperature=0.2), momentum=MomentumSchedule(0.0, 0.0), queue_size=16)
    plain.eval(), moco.eval()
    # momentum 0: the key encoder is an exact copy, so with an empty queue both losses agree
    assert moco(batch).item() == pytest.approx(plain(batch).item(), rel=1e-5)
    queue = next(s for s in moco.sources if s.name == "queue")
    assert len(queue) == 8
    moco(batch)  # same samples again: the 8 queued keys are the anchors' own instances
    assert moco.last_stats["masked/queue/same_instance"] == 1  # per anchor: its own queued key
    assert moco.last_stats["candidates/queue"] == 8
    assert moco.last_stats["negatives_per_anchor"] == pytest.approx(7 + 7)  # in-batch + other queued


def test_queue_larger_than_dataset_is_refused():
    x, _ = blobs(n=20)
    adapter = VectorAdapter(x)
    with pytest.raises(ValueError, match="queue_size"):
        ContrastiveLearner(adapter.build_encoder(), build_objective("info_nce"), queue_size=32, embed_dim=64, dataset_size=20)


def test_momentum_update_follows_the_ema_formula():
    online = torch.nn.Linear(2, 2)
    ema = MomentumEncoder(online, MomentumSchedule(0.9, 0.9, 10))
    before = ema.target.weight.clone()
    with torch.no_grad():
        online.weight.add_(1.0)
    ema.update(online, step=1)
    torch.testing.assert_close(ema.target.weight, 0.9 * before + 0.1 * online.weight)
    assert not any(p.requires_grad for p in ema.target.parameters())
    assert MomentumSchedule(0.99, 1.0, 100).value(100) == pytest.approx(1.0)


def test_byol_target_gets_no_gradient_and_simsiam_stop_gradient_matters():
    x, _ = blobs()
    adapter = VectorAdapter(x, corruption=0.3)
    batch = batch_of(adapter, range(16))
    torch.manual_seed(0)
    byol = build_learner("byol", adapter.build_encoder(), 64, total_steps=10)
    byol(batch).backward()
    assert all(p.grad is None for p in byol.towers.momentum.parameters())
    assert byol.predictor[0].weight.grad is not None

    torch.manual_seed(0)
    with_sg = build_learner("simsiam", adapter.build_encoder(), 64)
    torch.manual_seed(0)
    without_sg = build_learner("simsiam_no_stop_gradient", adapter.build_encoder(), 64)
    with_sg(batch).backward()
    without_sg(batch).backward()
    g1 = with_sg.encoder.net[0].weight.grad
    g2 = without_sg.encoder.net[0].weight.grad
    assert not torch.allclose(g1, g2)


@pytest.mark.parametrize("method", METHODS)
def test_every_method_trains_a_few_steps(method, tmp_path):
    x, labels = blobs()
    adapter = VectorAdapter(x, corruption=0.3, labels=labels)
    torch.manual_seed(0)
    learner = build_learner(method, adapter.build_encoder(), 64, total_steps=4, queue_size=32, dataset_size=len(x))
    cfg = TrainerConfig(out_dir=str(tmp_path), max_steps=4, batch_size=16, learning_rate=1e-3, progress_bar=False, tensorboard=False)
    summary = Trainer(learner, ViewsDataset(list(range(len(x))), adapter), adapter.collate, cfg).train()
    assert summary["steps"] == 4


def test_health_metrics_on_known_inputs():
    same = torch.ones(10, 4)
    health = embedding_health(same, same)
    assert health["alignment"] == pytest.approx(0.0)
    assert health["uniformity"] == pytest.approx(0.0, abs=1e-6)
    assert health["dim_std"] == pytest.approx(0.0, abs=1e-6)
    spread = torch.randn(200, 16, generator=torch.Generator().manual_seed(0))
    assert uniformity(spread) < -2.0
    assert effective_rank(spread) > 10
    assert effective_rank(torch.randn(200, 1).repeat(1, 16)) < 1.5


def test_monitor_rule_fires_on_rising_uniformity_with_falling_loss():
    monitor = CollapseMonitor(probe_batch={}, window=2, uniformity_rise=0.5)
    healthy = {"alignment": 0.5, "uniformity": -3.0, "effective_rank": 20.0, "dim_std": 0.1}
    assert monitor.check(10, healthy, loss=1.0) is None
    assert monitor.check(20, {**healthy, "uniformity": -2.9}, loss=0.9) is None
    assert monitor.check(30, {**healthy, "uniformity": -1.0}, loss=1.2) is None  # loss rose: not the signature
    reason = monitor.check(40, {**healthy, "uniformity": -0.2}, loss=0.1)
    assert reason and "uniformity rose" in reason and monitor.fired == reason


def test_trainer_stops_on_collapse_and_schedules_reach_the_objective(tmp_path):
    from multicl.objectives import TemperatureSchedule
    import json

    x, _ = blobs()
    adapter = VectorAdapter(x, corruption=0.3)
    dataset = ViewsDataset(list(range(len(x))), adapter)
    probe = adapter.collate([dataset[i] for i in range(32)])
    torch.manual_seed(0)
    learner = build_learner("simsiam_no_stop_gradient", adapter.build_encoder(), 64)
    monitor = CollapseMonitor(probe, every=2, min_dim_std=1.0)  # a floor no embedding reaches: fires at once
    cfg = TrainerConfig(out_dir=str(tmp_path / "a"), max_steps=10, batch_size=16, progress_bar=False, tensorboard=False, log_every=1)
    summary = Trainer(learner, dataset, adapter.collate, cfg, monitor=monitor).train()
    assert summary["steps"] == 2 and "dim_std" in summary["stopped_early"]
    assert (tmp_path / "a" / "checkpoints" / "step-000002").is_dir()
    records = [json.loads(l) for l in (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()]
    assert any("monitor/uniformity" in r for r in records)

    torch.manual_seed(0)
    objective = build_objective("info_nce", temperature=TemperatureSchedule(0.5, 0.1, total_steps=4, kind="linear"))
    learner = ContrastiveLearner(adapter.build_encoder(), objective)
    cfg = TrainerConfig(out_dir=str(tmp_path / "b"), max_steps=4, batch_size=16, progress_bar=False, tensorboard=False, log_every=1)
    Trainer(learner, dataset, adapter.collate, cfg).train()
    temperatures = [json.loads(l)["train/temperature"] for l in (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()]
    assert temperatures == pytest.approx([0.4, 0.3, 0.2, 0.1])
