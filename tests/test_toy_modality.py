"""A modality the engine has never seen, written here with zero edits to engine files: point sets.

Each sample is a variable-size set of 2-D points drawn from one of four shapes. Its inputs are
ragged like a graph batch: all points of all sets concatenated, with ``set_index`` saying which
set a point belongs to (node offsets, PyG style). The class below owns ``cat`` (offsets shifted),
``select`` (sets picked and renumbered), ``to`` and ``num_rows``; a DeepSets encoder pools per
set. It trains end to end (MoCo: momentum key tower + queue, plus mined hard negatives and the
in-batch ones) through the stock learner, miner and trainer: every source feeds the pool, the
loss falls and the shapes are told apart far above chance.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pytest
import torch
from torch import nn

from multicl.modalities.views_dataset import ViewsDataset
from multicl.eval.probe import knn_predict
from multicl.modalities.base import Adapter
from multicl.negatives.masks import FalseNegativePolicy
from multicl.negatives.miner import HardNegativeMiner, MinerConfig, corpus_from_dataset
from multicl.objectives import build_objective
from multicl.train.config import TrainerConfig
from multicl.train.learner import ContrastiveLearner
from multicl.train.momentum import MomentumSchedule
from multicl.train.trainer import Trainer


class PointSetInputs:
    """Points of several sets: ``points`` (P, 2), ``set_index`` (P,) in [0, num_sets)."""

    def __init__(self, points: torch.Tensor, set_index: torch.Tensor, num_sets: int) -> None:
        self.points, self.set_index, self._num_sets = points, set_index, int(num_sets)

    @property
    def num_rows(self) -> int:
        return self._num_sets

    def select(self, rows) -> "PointSetInputs":
        rows = torch.as_tensor(rows, dtype=torch.long)
        new_id = torch.full((self._num_sets,), -1, dtype=torch.long)
        new_id[rows] = torch.arange(len(rows))
        keep = new_id[self.set_index.cpu()] >= 0
        order = torch.argsort(new_id[self.set_index.cpu()][keep], stable=True)
        return PointSetInputs(self.points[keep][order], new_id[self.set_index.cpu()][keep][order].to(self.set_index.device), len(rows))

    def to(self, device, non_blocking: bool = False) -> "PointSetInputs":
        return PointSetInputs(self.points.to(device), self.set_index.to(device), self._num_sets)

    @classmethod
    def cat(cls, parts: Sequence["PointSetInputs"]) -> "PointSetInputs":
        offsets = np.cumsum([0] + [p.num_rows for p in parts[:-1]])
        device = parts[0].points.device
        return cls(torch.cat([p.points.to(device) for p in parts]),
                   torch.cat([p.set_index.to(device) + int(o) for p, o in zip(parts, offsets)]), sum(p.num_rows for p in parts))


class DeepSetsEncoder(nn.Module):
    def __init__(self, embed_dim: int = 16) -> None:
        super().__init__()
        self.phi = nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU())
        self.rho = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, embed_dim))
        self.embed_dim = embed_dim

    def forward(self, inputs: PointSetInputs) -> torch.Tensor:
        h = self.phi(inputs.points)  # (P, 32)
        n, index = inputs.num_rows, inputs.set_index
        total = torch.zeros(n, h.shape[1], device=h.device).index_add_(0, index, h)
        count = torch.zeros(n, device=h.device).index_add_(0, index, torch.ones_like(index, dtype=h.dtype)).clamp(min=1)
        peak = torch.full((n, h.shape[1]), -1e4, device=h.device).scatter_reduce(0, index[:, None].expand_as(h), h, "amax")
        return self.rho(torch.cat([total / count[:, None], peak], dim=1))


def shape_points(kind: int, rng: np.random.Generator) -> np.ndarray:
    t = rng.uniform(0, 2 * np.pi, rng.integers(12, 30))
    if kind == 0:
        pts = np.stack([np.cos(t), np.sin(t)], 1)  # circle
    elif kind == 1:
        pts = np.stack([t / np.pi - 1, 0.1 * np.sin(3 * t)], 1)  # line
    elif kind == 2:
        pts = np.stack([np.sign(np.cos(t)) * np.abs(np.cos(t)) ** 0.2, np.sign(np.sin(t)) * np.abs(np.sin(t)) ** 0.2], 1)  # square
    else:
        pts = rng.normal(0, 0.3, (len(t), 2))  # blob
    return (rotate(pts, rng.uniform(0, 2 * np.pi)) * rng.uniform(0.7, 1.3) + 0.05 * rng.normal(size=pts.shape)).astype(np.float32)


def rotate(points: np.ndarray, angle: float) -> np.ndarray:
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return (points @ rot.T).astype(np.float32)


class PointSetAdapter(Adapter):
    """Samples: indices into ``sets`` (each at a random orientation); views: a random 70 % of the
    points at a random orientation, so training must learn what orientation does not change."""

    def __init__(self, sets: list[np.ndarray], labels: np.ndarray) -> None:
        self.sets, self.labels = sets, labels

    def views(self, sample: int, rng: np.random.Generator):
        return self._view(self.sets[sample], rng), self._view(self.sets[sample], rng)

    @staticmethod
    def _view(points: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        keep = rng.random(len(points)) < 0.7
        keep[rng.integers(len(points))] = True
        return rotate(points[keep], rng.uniform(0, 2 * np.pi))

    def meta(self, sample: int, index: int) -> dict[str, int]:
        return {"instance_id": int(sample), "group_id": int(sample), "label": int(self.labels[sample])}

    def prepare_inputs(self, raw: Sequence[np.ndarray]) -> PointSetInputs:
        points = torch.from_numpy(np.concatenate(raw).astype(np.float32))
        index = torch.from_numpy(np.repeat(np.arange(len(raw)), [len(r) for r in raw]))
        return PointSetInputs(points, index, len(raw))

    def mining_corpus(self, samples: Sequence[int]) -> list[np.ndarray]:
        return [self.sets[int(s)] for s in samples]

    def length_of(self, raw: np.ndarray) -> int:
        return len(raw)

    def build_encoder(self) -> nn.Module:
        return DeepSetsEncoder()


def test_ragged_inputs_cat_and_select_keep_each_set_intact():
    rng = np.random.default_rng(0)
    adapter = PointSetAdapter([shape_points(k % 4, rng) for k in range(5)], np.arange(5) % 4)
    a, b = adapter.prepare_inputs(adapter.sets[:2]), adapter.prepare_inputs(adapter.sets[2:])
    both = PointSetInputs.cat([a, b])
    assert both.num_rows == 5 and both.set_index.max() == 4
    picked = both.select([3, 0])
    np.testing.assert_array_equal(picked.points[picked.set_index == 0].numpy(), adapter.sets[3])
    np.testing.assert_array_equal(picked.points[picked.set_index == 1].numpy(), adapter.sets[0])
    encoder = DeepSetsEncoder().eval()
    with torch.no_grad():  # a set embeds the same alone or stacked with others
        torch.testing.assert_close(encoder(adapter.prepare_inputs(adapter.sets[3:4])), encoder(both)[3:4])


@pytest.mark.slow
def test_point_sets_train_with_in_batch_queue_and_mined_negatives(tmp_path):
    rng = np.random.default_rng(0)
    labels = np.arange(160) % 4
    sets = [shape_points(int(k), rng) for k in labels]
    test_labels = np.arange(80) % 4
    test_sets = [shape_points(int(k), rng) for k in test_labels]
    adapter = PointSetAdapter(sets, labels)
    samples = list(range(len(sets)))
    policy = FalseNegativePolicy(same_group=True)
    corpus, meta = corpus_from_dataset(samples, adapter)
    miner = HardNegativeMiner(corpus, adapter, corpus_meta=meta, policy=policy,
                              config=MinerConfig(num_negatives=1, top_k=48, rank_window=(16, 48), refresh_every=20, index="exact"))

    def accuracy(encoder) -> float:
        encoder.eval()
        with torch.no_grad():
            train_z = encoder(adapter.prepare_inputs(sets)).numpy()
            test_z = encoder(adapter.prepare_inputs(test_sets)).numpy()
        return float(np.mean(knn_predict(train_z, labels, test_z, k=5) == test_labels))

    torch.manual_seed(0)
    encoder = adapter.build_encoder()
    before = accuracy(encoder)
    learner = ContrastiveLearner(encoder.train(), build_objective("info_nce", temperature=0.2), policy=policy,
                                 momentum=MomentumSchedule(0.99, 0.99), queue_size=64, embed_dim=encoder.embed_dim,
                                 dataset_size=len(samples), miner=miner)
    seen: set[str] = set()
    losses: list[float] = []

    def record(step, logs):
        seen.update(logs)
        losses.append(logs["loss"])

    cfg = TrainerConfig(out_dir=str(tmp_path), max_steps=100, batch_size=32, learning_rate=3e-3, device="cpu", progress_bar=False,
                        tensorboard=False, log_every=5)
    Trainer(learner, ViewsDataset(samples, adapter), adapter.collate, cfg, callbacks=[record]).train()
    assert {"candidates/in_batch", "candidates/queue", "candidates/mined"} <= seen  # all three sources fed the pool
    assert miner.refreshes == 5  # steps 0, 20, 40, 60, 80
    assert np.mean(losses[-10:]) < np.mean(losses[:10]) - 0.3
    after = accuracy(encoder)
    assert after >= 0.6 and before < 0.8, (before, after)  # 4 shapes: chance is 0.25
