"""TS2Vec: the hierarchical loss against a loop written from the paper's definitions, overlapping
crops, the per-timestep encoder, the learner through the trainer, the SVM protocol and DTW."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from multicl.encoders.ts2vec import TS2VecEncoder
from multicl.eval.dtw import dtw_1nn_predict, dtw_distances
from multicl.eval.svm_probe import HARD_MARGIN, svm_probe
from multicl.recipes._sequence_eval import embedding_scores
from multicl.modalities.overlap_crops import OverlapCropDataset
from multicl.modalities.sequence import SequenceAdapter
from multicl.objectives.ts2vec import HierarchicalContrastiveLoss, hierarchical_contrastive_loss
from multicl.train.ts2vec import TS2VecLearner, WeightAverage, take_overlap
from multicl.views.overlapping_crops import overlapping_crops


# -- the reference: plain loops over anchors, straight from the definitions ------------------------
def _nll(anchor, positive, candidates) -> float:
    scores = [float(anchor @ c) for c in candidates]
    return -(float(anchor @ positive) - math.log(sum(math.exp(s) for s in scores)))


def _reference_terms(z, valid):
    """z: [view1, view2] arrays (B, T, D); valid (B, T) -> (instance mean, temporal mean)."""
    b, t = valid.shape
    inst, temp = [], []
    for v in (0, 1):
        for i in range(b):
            for s in range(t):
                if not valid[i, s]:
                    continue
                anchor, positive = z[v][i, s], z[1 - v][i, s]
                # instance: every other (view, series) at timestamp s
                cands = [z[w][j, s] for w in (0, 1) for j in range(b) if valid[j, s] and (w, j) != (v, i)]
                if len(cands) >= 2:
                    inst.append(_nll(anchor, positive, cands))
                # temporal: every other (view, timestamp) of series i
                cands = [z[w][i, u] for w in (0, 1) for u in range(t) if valid[i, u] and (w, u) != (v, s)]
                if len(cands) >= 2:
                    temp.append(_nll(anchor, positive, cands))
    return (np.mean(inst) if inst else 0.0), (np.mean(temp) if temp else 0.0)


def _reference_pool(z, valid):
    b, t, d = z.shape
    out, out_valid = np.zeros((b, t // 2, d)), np.zeros((b, t // 2), bool)
    for i in range(b):
        for k in range(t // 2):
            steps = [u for u in (2 * k, 2 * k + 1) if valid[i, u]]
            if steps:
                out[i, k], out_valid[i, k] = np.max(z[i, steps], axis=0), True
    return out, out_valid


def reference_loss(z1, z2, valid=None, alpha=0.5):
    z1, z2 = np.asarray(z1, float), np.asarray(z2, float)
    valid = np.ones(z1.shape[:2], bool) if valid is None else np.asarray(valid)
    levels = []
    while True:
        inst, temp = _reference_terms([z1, z2], valid)
        if z1.shape[1] == 1:
            levels.append(alpha * inst)
            break
        levels.append(alpha * inst + (1 - alpha) * temp)
        (z1, _), (z2, valid) = _reference_pool(z1, valid), _reference_pool(z2, valid)
    return float(np.mean(levels))


@pytest.mark.parametrize("b, t, d", [(3, 5, 4), (2, 8, 3), (4, 1, 2), (1, 6, 3)])
def test_loss_matches_the_loop_reference(b, t, d):
    g = torch.Generator().manual_seed(b * 100 + t)
    z1, z2 = torch.randn(b, t, d, generator=g, dtype=torch.float64), torch.randn(b, t, d, generator=g, dtype=torch.float64)
    assert hierarchical_contrastive_loss(z1, z2).item() == pytest.approx(reference_loss(z1.numpy(), z2.numpy()), rel=1e-9, abs=1e-12)
    assert HierarchicalContrastiveLoss(alpha=0.3)(z1, z2).item() == pytest.approx(reference_loss(z1.numpy(), z2.numpy(), alpha=0.3), rel=1e-9)


def test_loss_with_padded_overlaps_matches_the_reference_and_ignores_padding():
    g = torch.Generator().manual_seed(7)
    z1, z2 = torch.randn(3, 7, 4, generator=g, dtype=torch.float64), torch.randn(3, 7, 4, generator=g, dtype=torch.float64)
    lengths = torch.tensor([7, 4, 1])
    valid = torch.arange(7)[None, :] < lengths[:, None]
    expected = reference_loss(z1.numpy(), z2.numpy(), valid.numpy())
    assert hierarchical_contrastive_loss(z1, z2, valid).item() == pytest.approx(expected, rel=1e-9)
    noisy1, noisy2 = z1.clone(), z2.clone()
    noisy1[~valid], noisy2[~valid] = 1e3, -1e3  # what sits at padded steps never matters
    assert hierarchical_contrastive_loss(noisy1, noisy2, valid).item() == pytest.approx(expected, rel=1e-9)


def test_degenerate_cases():
    # identical representations everywhere: every candidate scores the same, -log p = log(#candidates)
    b, t = 3, 4
    z = torch.zeros(b, t, 2)
    levels = [0.5 * math.log(2 * b - 1) + 0.5 * math.log(2 * 4 - 1), 0.5 * math.log(2 * b - 1) + 0.5 * math.log(2 * 2 - 1),
              0.5 * math.log(2 * b - 1)]  # T = 4, 2, 1
    assert hierarchical_contrastive_loss(z, z).item() == pytest.approx(np.mean(levels), rel=1e-6)
    # one series, one step: no negatives anywhere -> 0 (not NaN)
    assert hierarchical_contrastive_loss(torch.randn(1, 1, 3), torch.randn(1, 1, 3)).item() == 0.0
    with pytest.raises(ValueError, match="B, T, D"):
        hierarchical_contrastive_loss(torch.zeros(2, 3), torch.zeros(2, 3))


def test_gradient_flows_to_both_views_and_not_to_padding():
    z1 = torch.randn(3, 6, 4, requires_grad=True)
    z2 = torch.randn(3, 6, 4, requires_grad=True)
    valid = torch.arange(6)[None, :] < torch.tensor([6, 3, 5])[:, None]
    hierarchical_contrastive_loss(z1, z2, valid).backward()
    for grad in (z1.grad, z2.grad):
        assert torch.isfinite(grad).all() and grad[valid].abs().sum() > 0
        assert grad[~valid].abs().sum() == 0


def test_overlapping_crops_invariants():
    rng = np.random.default_rng(0)
    overlaps = []
    for length in (1, 2, 3, 17, 100):
        for _ in range(300):
            a1, b1, a2, b2 = overlapping_crops(length, rng)
            assert 0 <= a1 <= a2 < b1 <= b2 <= length
            assert b1 - a2 >= min(2, length)
            if length == 100:
                overlaps.append((b1 - a2) / length)
    assert 0.4 < np.mean(overlaps) < 0.6  # the overlap length is uniform over [2, length]


def test_batch_crops_share_one_geometry_and_stay_inside_each_series():
    """TS2Vec's own rule: one overlap / view length per batch, a per-row position; and the per-batch dataset lines up."""
    from multicl.views.overlapping_crops import batch_overlapping_crops

    rng = np.random.default_rng(0)
    for lengths in ([40, 40, 40], [9, 40, 17, 100], [1, 5]):
        for _ in range(200):
            crops = batch_overlapping_crops(lengths, rng)
            assert len({(b1 - a2, b1 - a1, b2 - a2) for a1, b1, a2, b2 in crops}) == 1
            for (a1, b1, a2, b2), n in zip(crops, lengths):
                assert 0 <= a1 <= a2 < b1 <= b2 <= n
    positions = [batch_overlapping_crops([100, 100], rng)[0][0] for _ in range(300)]
    assert len(set(positions)) > 20  # rows move, the geometry does not
    series = [np.arange(40, dtype=np.float32)[:, None] + 100 * i for i in range(3)] + [np.arange(9, dtype=np.float32)[:, None] + 900]
    data = OverlapCropDataset(SequenceAdapter(series), seed=1, per_batch=True)
    batch = data.collate([data[v] for v in range(4)])
    assert len(set(batch["overlap"].tolist())) == 1
    a = take_overlap(batch["view_a"]["values"], batch["offset_a"], batch["overlap"])
    b = take_overlap(batch["view_b"]["values"], torch.zeros_like(batch["offset_a"]), batch["overlap"])
    assert torch.equal(a, b)
    again = data.collate([data[v] for v in range(4)])
    assert torch.equal(again["offset_a"], batch["offset_a"]) and torch.equal(again["view_a"]["values"], batch["view_a"]["values"])


def test_dataset_collate_and_overlap_line_up():
    series = [np.arange(40, dtype=np.float32)[:, None] + 100 * i for i in range(3)] + [np.arange(9, dtype=np.float32)[:, None] + 900]
    adapter = SequenceAdapter(series)
    data = OverlapCropDataset(adapter, seed=1)
    items = [data[v] for v in range(8)]
    assert [data[v]["offset_a"] for v in range(8)] == [it["offset_a"] for it in items]  # reproducible crops
    batch = data.collate(items)
    a = take_overlap(batch["view_a"]["values"], batch["offset_a"], batch["overlap"])
    b = take_overlap(batch["view_b"]["values"], torch.zeros_like(batch["offset_a"]), batch["overlap"])
    assert torch.equal(a, b)  # the same steps of the same series, seen by both views
    assert a.shape[1] == int(batch["overlap"].max()) and batch["view_a"]["lengths"].tolist() == [len(it["view_a"]) for it in items]


def test_encoder_per_timestep_output_padding_and_masking():
    torch.manual_seed(0)
    enc = TS2VecEncoder(2, embed_dim=12, hidden=8, depth=3).eval()
    x = torch.randn(1, 20, 2)
    padded = {"values": torch.cat([torch.cat([x, torch.zeros(1, 5, 2)], 1), torch.randn(1, 25, 2)]), "lengths": torch.tensor([20, 25])}
    alone = {"values": x, "lengths": torch.tensor([20])}
    steps = enc.forward_steps(padded)
    assert steps.shape == (2, 25, 12) and steps[0, 20:].abs().sum() == 0
    torch.testing.assert_close(steps[0, :20], enc.forward_steps(alone)[0], atol=1e-5, rtol=1e-5)  # padding never changes a step
    torch.testing.assert_close(enc(padded)[0], enc.forward_steps(alone)[0].amax(0), atol=1e-5, rtol=1e-5)  # instance = max over time
    enc.train()
    assert not torch.equal(enc.forward_steps(alone), enc.forward_steps(alone))  # random timestamp masks (and dropout) in training
    enc.eval()
    torch.testing.assert_close(enc.forward_steps(alone), enc.forward_steps(alone))


@pytest.mark.slow
def test_learner_trains_through_the_trainer_and_the_model_folder_loads(tmp_path):
    from multicl.api import EmbeddingModel
    from multicl.train.config import TrainerConfig
    from multicl.train.trainer import Trainer
    from multicl.types.hooks import Learner

    rng = np.random.default_rng(0)
    series = [np.sin(np.arange(rng.integers(20, 40)) * f)[:, None].astype(np.float32) for f in np.repeat([0.2, 0.9], 6)]
    adapter = SequenceAdapter(series)
    torch.manual_seed(0)
    learner = TS2VecLearner(TS2VecEncoder(1, embed_dim=16, hidden=8, depth=3))
    assert isinstance(learner, Learner)
    data = OverlapCropDataset(adapter, seed=0)
    cfg = TrainerConfig(out_dir=str(tmp_path / "run"), max_steps=6, batch_size=4, learning_rate=1e-3, seed=0, device="cpu", precision="no",
                        progress_bar=False, tensorboard=False)
    Trainer(learner, data, data.collate, cfg).train()
    assert learner.weight_average.count == 6
    averaged = learner.averaged_encoder()
    assert any(not torch.equal(p, q) for p, q in zip(averaged.parameters(), learner.encoder.parameters()))
    EmbeddingModel.from_adapter(adapter, averaged).save(tmp_path / "model")
    loaded = EmbeddingModel.load(tmp_path / "model")
    expected = EmbeddingModel.from_adapter(adapter, averaged).encode(series[:3])
    np.testing.assert_allclose(loaded.encode(series[:3]), expected, atol=1e-5)


def test_weight_average_is_the_mean_of_the_steps_and_round_trips():
    module = torch.nn.Linear(2, 1)
    hook = WeightAverage(module)
    seen = []
    for value in (1.0, 2.0, 6.0):
        with torch.no_grad():
            module.weight.fill_(value)
        seen.append(value)
        hook.after_step(len(seen))
    assert torch.allclose(hook.averaged().weight, torch.full((1, 2), 3.0))
    other = WeightAverage(module)
    other.load_state_dict(hook.state_dict())
    assert torch.allclose(other.averaged().weight, torch.full((1, 2), 3.0))


def test_svm_probe_cross_validates_and_falls_back_with_rare_classes():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(0, 1, (20, 3)), rng.normal(4, 1, (20, 3))])
    y = np.repeat([0, 1], 20)
    out = svm_probe(x, y, x + 0.01, y)
    assert out["accuracy"] == 100.0 and out["C"] in (1e-4, 1e-3, 1e-2, 0.1, 1.0, 10.0, 100.0, 1e3, 1e4, HARD_MARGIN)
    rare = svm_probe(x[:21], np.r_[np.zeros(20, int), 1], x[:21], np.r_[np.zeros(20, int), 1])  # one row of class 1: no CV
    assert rare["C"] == HARD_MARGIN and rare["accuracy"] == 100.0



def test_svm_ts2vec_small_set_rule_is_a_hard_margin_below_50_rows_or_5_per_class():
    from sklearn.svm import SVC

    from multicl.eval.svm_probe import uses_ts2vec_small_set_rule

    rng = np.random.default_rng(2)
    x = np.concatenate([rng.normal(0, 1, (20, 3)), rng.normal(1, 1, (20, 3))])  # overlapping: C matters
    y = np.repeat([0, 1], 20)
    assert uses_ts2vec_small_set_rule(y) and not uses_ts2vec_small_set_rule(np.repeat([0, 1], 25))
    assert uses_ts2vec_small_set_rule(np.repeat(np.arange(12), 5)[:59])  # 59 rows of 12 classes: 4 per class
    test = rng.normal(0.5, 1, (30, 3))
    expected = SVC(C=HARD_MARGIN, kernel="rbf", gamma="scale").fit(x, y).predict(test)
    got = svm_probe(x, y, test, expected, ts2vec_small_set_rule=True)
    assert got["C"] == HARD_MARGIN and got["accuracy"] == 100.0
    scores = embedding_scores(x, y, test, expected, 5, "p")  # the sequence recipe reports both where the rule applies
    assert scores["p_svm_ts2vec_rule_accuracy"] == 100.0 and 0 <= scores["p_svm_accuracy"] <= 100
    big = np.concatenate([x, x + 0.1]), np.r_[y, y]
    assert "p_svm_ts2vec_rule_accuracy" not in embedding_scores(*big, test, expected, 5, "p")

def test_dtw_matches_a_full_dynamic_program_and_forgives_shifts():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(3, 7, 2)), rng.normal(size=(2, 9, 2))

    def full(x, y):
        d = np.full((len(x) + 1, len(y) + 1), np.inf)
        d[0, 0] = 0
        for i in range(1, len(x) + 1):
            for j in range(1, len(y) + 1):
                d[i, j] = ((x[i - 1] - y[j - 1]) ** 2).sum() + min(d[i - 1, j], d[i, j - 1], d[i - 1, j - 1])
        return math.sqrt(d[-1, -1])

    expected = np.array([[full(x, y) for y in b] for x in a])
    np.testing.assert_allclose(dtw_distances(a, b, band=1.0), expected, rtol=1e-12)
    # a narrow band: the same program over the cells with |i - j| <= w only (w = max(|T - U|, round(band * max(T, U))))
    c, d = rng.normal(size=(4, 20, 2)), rng.normal(size=(3, 23, 2))

    def banded(x, y, w):
        e = np.full((len(x) + 1, len(y) + 1), np.inf)
        e[0, 0] = 0
        for i in range(1, len(x) + 1):
            for j in range(max(1, i - w), min(len(y), i + w) + 1):
                e[i, j] = ((x[i - 1] - y[j - 1]) ** 2).sum() + min(e[i - 1, j], e[i, j - 1], e[i - 1, j - 1])
        return math.sqrt(e[-1, -1])

    narrow = np.array([[banded(x, y, 5) for y in d] for x in c])  # w = max(3, round(0.2 * 23)) = 5
    np.testing.assert_allclose(dtw_distances(c, d, band=0.2), narrow, rtol=1e-12)
    assert (narrow > np.array([[full(x, y) for y in d] for x in c]) - 1e-12).all()  # a band can only lengthen the path
    # rows of a go in chunks under max_cells: the same distances, one row at a time
    np.testing.assert_allclose(dtw_distances(c, d, band=0.2, max_cells=1), narrow, rtol=1e-12)
    assert dtw_distances(c[:0], d).shape == (0, 3)
    t = np.linspace(0, 4 * np.pi, 60)
    bump = lambda shift: np.exp(-((t - 6 - shift) ** 2))[:, None]  # noqa: E731
    train, labels = np.stack([bump(0), np.sin(t)[:, None]]), np.array([0, 1])
    assert dtw_1nn_predict(train, labels, np.stack([bump(0.8)]), band=0.1).tolist() == [0]
