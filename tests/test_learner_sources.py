"""The learner's candidate pool: sources, one policy over all of them, towers, and warnings."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from multicl.modalities.views_dataset import ViewsDataset
from multicl.modalities.sequence import SequenceAdapter
from multicl.modalities.vector import VectorAdapter
from multicl.negatives.masks import FalseNegativePolicy
from multicl.objectives import build_objective
from multicl.train.learner import ContrastiveLearner
from multicl.types import ContrastiveBatch, RoleBatch, TensorInputs


def test_one_stream_with_same_group_warns_once_and_names_the_rule():
    """What a user hits first with sensor data: one recording, the default policy."""
    stream = np.cumsum(np.random.default_rng(0).standard_normal((600, 2)), axis=0).astype(np.float32)
    adapter = SequenceAdapter([stream], clip_length=32, stride=4, jitter=(2, 8), embed_dim=8)
    dataset = ViewsDataset(adapter.samples, adapter)
    batch = adapter.collate([dataset[i] for i in range(0, 80, 5)])
    learner = ContrastiveLearner(adapter.build_encoder(), build_objective("info_nce"), policy=FalseNegativePolicy(same_group=True))
    loss = learner(batch)
    # decided when the figures are read (the trainer reads them at logging intervals): no step waits on the device
    with pytest.warns(RuntimeWarning, match="same_group.*temporal_window"):
        learner.last_stats
    assert learner.last_stats["rows_without_negatives"] == 16 and learner.last_stats["negatives_per_anchor"] == 0
    assert torch.isfinite(loss)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # shown once, then only counted
        learner(batch)
    assert learner.empty_batches == 2
    windowed = ContrastiveLearner(adapter.build_encoder(), build_objective("info_nce"),
                                  policy=FalseNegativePolicy(same_group=True, temporal_window=32))
    windowed(batch)
    assert windowed.last_stats["negatives_per_anchor"] > 10 and windowed.last_stats["masked/in_batch/same_group"] > 0


def test_every_source_is_masked_by_the_one_policy_and_reported():
    x = np.random.default_rng(0).normal(size=(64, 6)).astype(np.float32)
    labels = np.arange(64) % 4
    adapter = VectorAdapter(x, corruption=0.2, labels=labels, embed_dim=8, hidden_dims=(16,))
    dataset = ViewsDataset(list(range(64)), adapter)
    batch = adapter.collate([dataset[i] for i in range(8)])
    hard = RoleBatch(adapter.prepare_inputs(x[8:16]), {"instance_id": torch.arange(8, 16), "group_id": torch.arange(8, 16),
                                                       "label": torch.from_numpy(labels[8:16])})
    batch = ContrastiveBatch(batch.anchors, batch.positives, hard)
    learner = ContrastiveLearner(adapter.build_encoder(), build_objective("info_nce"), policy=FalseNegativePolicy(same_label=True),
                                 queue_size=16, embed_dim=8)
    learner(batch)
    learner(batch)  # the queue now holds the first step's keys
    stats = learner.last_stats
    assert stats["candidates/in_batch"] == 8 and stats["candidates/hard_negatives"] == 8 and stats["candidates/queue"] == 8
    # 8 anchors of 4 labels: each shares its label with 1 other in-batch positive and 2 of the 8 hard negatives
    assert stats["masked/in_batch/same_label"] == pytest.approx(1.0)
    assert stats["masked/hard_negatives/same_label"] == pytest.approx(2.0)
    assert stats["masked/queue/same_instance"] == pytest.approx(1.0)
    assert stats["negatives_per_anchor"] == pytest.approx((8 - 2) + (8 - 2) + (8 - 2))


def test_two_towers_of_different_modalities_both_learn():
    """Anchors are 6-d rows, candidates 3-d rows of another 'modality': two encoders."""
    rng = np.random.default_rng(0)
    a = VectorAdapter(rng.normal(size=(16, 6)).astype(np.float32), embed_dim=8, hidden_dims=(16,))
    c = VectorAdapter(rng.normal(size=(16, 3)).astype(np.float32), embed_dim=8, hidden_dims=(16,))
    meta = {"instance_id": torch.arange(16), "group_id": torch.arange(16)}
    batch = ContrastiveBatch(RoleBatch(a.prepare_inputs(a.marginals), meta), RoleBatch(c.prepare_inputs(c.marginals), meta))
    learner = ContrastiveLearner(a.build_encoder(), build_objective("info_nce"), candidate_encoder=c.build_encoder())
    learner(batch).backward()
    assert learner.encoder is not learner.candidate_encoder
    for tower in (learner.encoder, learner.candidate_encoder):
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in tower.parameters())
    shared = ContrastiveLearner(a.build_encoder(), build_objective("info_nce"))
    mixed = ContrastiveBatch(batch.anchors, RoleBatch(_Other({"x": torch.zeros(16, 6)}), meta))
    with pytest.raises(TypeError, match="one modality"):  # one tower cannot stack two input kinds
        shared(mixed)


class _Other(TensorInputs):
    """Another inputs type, standing for another modality."""


def test_positive_aware_thresholds_apply_to_in_batch_candidates_too():
    x = np.random.default_rng(0).normal(size=(16, 6)).astype(np.float32)
    adapter = VectorAdapter(x, embed_dim=8, hidden_dims=(16,))
    meta = {"instance_id": torch.arange(16), "group_id": torch.arange(16)}
    rows = adapter.prepare_inputs(x)
    batch = ContrastiveBatch(RoleBatch(rows, meta), RoleBatch(rows, meta))  # identical views: sim(anchor, positive) = 1
    learner = ContrastiveLearner(adapter.build_encoder(), build_objective("info_nce"), policy=FalseNegativePolicy(max_positive_ratio=0.0))
    learner(batch)  # ratio 0: every candidate above 0 * 1 similarity is dropped
    assert learner.last_stats["masked/in_batch/above_positive_ratio"] > 0



def test_supcon_on_unlabelled_samples_raises_instead_of_becoming_nt_xent():
    x = np.random.default_rng(0).normal(size=(16, 6)).astype(np.float32)
    adapter = VectorAdapter(x, corruption=0.2, embed_dim=8, hidden_dims=(16,))  # no labels
    dataset = ViewsDataset(list(range(16)), adapter)
    batch = adapter.collate([dataset[i] for i in range(8)])
    learner = ContrastiveLearner(adapter.build_encoder(), build_objective("supcon"))
    with pytest.raises(ValueError, match="SupCon needs labels"):
        learner(batch)


def test_a_frozen_candidate_tower_gets_no_gradient_and_stays_in_eval_mode():
    rng = np.random.default_rng(0)
    a = VectorAdapter(rng.normal(size=(16, 6)).astype(np.float32), embed_dim=8, hidden_dims=(16,))
    c = VectorAdapter(rng.normal(size=(16, 3)).astype(np.float32), embed_dim=8, hidden_dims=(16,))
    meta = {"instance_id": torch.arange(16), "group_id": torch.arange(16)}
    batch = ContrastiveBatch(RoleBatch(a.prepare_inputs(a.marginals), meta), RoleBatch(c.prepare_inputs(c.marginals), meta))
    learner = ContrastiveLearner(a.build_encoder(), build_objective("info_nce"), candidate_encoder=c.build_encoder(), freeze_candidate=True)
    learner.train()  # what the trainer does
    assert learner.encoder.training and not learner.candidate_encoder.training
    learner(batch).backward()
    assert all(p.grad is None and not p.requires_grad for p in learner.candidate_encoder.parameters())
    assert all(p.grad is not None for p in learner.encoder.parameters())
    with pytest.raises(ValueError, match="candidate_encoder"):
        ContrastiveLearner(a.build_encoder(), build_objective("info_nce"), freeze_candidate=True)
