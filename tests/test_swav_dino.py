"""SwAV and DINO: oracle tests for Sinkhorn-Knopp and both losses, their schedules, multi-crop."""
import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from multicl.encoders.dino_head import DINOHead
from multicl.modalities.audio import AudioAdapter, WaveViews
from multicl.modalities.multi_crop import MultiCropDataset, MultiCropSpec
from multicl.modalities.sequence import SequenceAdapter
from multicl.modalities.vector import VectorAdapter
from multicl.modalities.views_dataset import ViewsDataset
from multicl.objectives.dino import DINOLoss
from multicl.objectives.sinkhorn import sinkhorn_knopp
from multicl.objectives.swav import SwAVLoss
from multicl.train.config import TrainerConfig
from multicl.train.methods import build_learner
from multicl.train.trainer import Trainer
from multicl.types.multi_crop import MultiCropBatch


def reference_sinkhorn(scores: np.ndarray, epsilon: float, iterations: int) -> np.ndarray:
    """The paper's Algorithm: Q = exp(S^T / eps), alternately scale rows (prototypes) to 1/K and
    columns (samples) to 1/B, return B * Q^T — written with explicit scaling vectors u, v."""
    kernel = np.exp(scores.T.astype(np.float64) / epsilon)  # (K, B)
    k, b = kernel.shape
    kernel /= kernel.sum()
    u, v = np.ones(k), np.ones(b)
    for _ in range(iterations):
        u = (1.0 / k) / (kernel * v[None, :]).sum(1) * 1.0
        v = (1.0 / b) / (u[:, None] * kernel).sum(0)
    q = u[:, None] * kernel * v[None, :]
    return (q * b).T


def test_sinkhorn_matches_the_reference_and_equipartitions():
    scores = F.normalize(torch.randn(12, 5, generator=torch.Generator().manual_seed(0)), dim=1)
    for iterations in (1, 3):
        ours = sinkhorn_knopp(scores, epsilon=0.05, iterations=iterations).double().numpy()
        np.testing.assert_allclose(ours, reference_sinkhorn(scores.numpy(), 0.05, iterations), rtol=1e-4, atol=1e-6)
    q = sinkhorn_knopp(scores, epsilon=0.5, iterations=200).double()
    torch.testing.assert_close(q.sum(1), torch.ones(12, dtype=torch.float64), rtol=1e-5, atol=1e-5)  # codes are distributions
    torch.testing.assert_close(q.sum(0), torch.full((5,), 12 / 5, dtype=torch.float64), rtol=1e-4, atol=1e-4)  # equal shares
    # Q = diag(a) exp(S / eps) diag(b): log Q - S / eps is a sum of a row and a column term
    residual = q.log() - scores.double() / 0.5
    centred = residual - residual.mean(1, keepdim=True) - residual.mean(0, keepdim=True) + residual.mean()
    assert float(centred.abs().max()) < 1e-5  # float32 codes (by design): the log carries ~1e-6 rounding; a non-scaling step leaves >1e-2
    assert sinkhorn_knopp(scores * 1e3, epsilon=0.05).isfinite().all()  # the max shift keeps huge logits finite
    with pytest.raises(ValueError, match="epsilon"):
        sinkhorn_knopp(scores, epsilon=0.0)


def test_swav_loss_is_the_swapped_cross_entropy():
    g = torch.Generator().manual_seed(1)
    crops = [F.normalize(torch.randn(6, 4, generator=g), dim=1) for _ in range(4)]  # 2 global + 2 local
    loss = SwAVLoss(temperature=0.1)(crops, num_global=2)
    expected = 0.0
    for i in range(2):
        q = reference_sinkhorn(crops[i].numpy(), 0.05, 3)
        terms = []
        for v in range(4):
            if v == i:
                continue
            log_p = F.log_softmax(crops[v].double() / 0.1, dim=1).numpy()
            terms.append(-(q * log_p).sum(1).mean())
        expected += sum(terms) / len(terms)
    assert loss.item() == pytest.approx(expected / 2, rel=1e-4)
    # a queue adds mass to Sinkhorn but not rows to the loss
    queue = [F.normalize(torch.randn(10, 4, generator=g), dim=1) for _ in range(2)]
    assert SwAVLoss()(crops, 2, queue_scores=queue).item() != pytest.approx(loss.item())
    with pytest.raises(ValueError, match="one \\(Q, K\\) tensor per global crop"):
        SwAVLoss()(crops, 2, queue_scores=queue[:1])


def test_dino_loss_centre_and_sharpening_oracle():
    g = torch.Generator().manual_seed(2)
    student = [torch.randn(5, 7, generator=g) for _ in range(4)]
    teacher = [torch.randn(5, 7, generator=g) for _ in range(2)]
    loss_fn = DINOLoss(7, student_temperature=0.1, center_momentum=0.9)
    loss_fn.center.copy_(torch.randn(1, 7, generator=g))
    center = loss_fn.center.clone()
    loss = loss_fn(student, teacher, teacher_temperature=0.04)
    total, pairs = 0.0, 0
    for i in range(2):
        target = np.exp((teacher[i] - center).double().numpy() / 0.04)
        target /= target.sum(1, keepdims=True)
        for v in range(4):
            if v != i:
                log_p = F.log_softmax(student[v].double() / 0.1, dim=1).numpy()
                total += -(target * log_p).sum(1).mean()
                pairs += 1
    assert loss.item() == pytest.approx(total / pairs, rel=1e-5)
    torch.testing.assert_close(loss_fn.center, 0.9 * center + 0.1 * torch.cat(teacher).mean(0, keepdim=True))
    loss_fn.eval()
    before = loss_fn.center.clone()
    loss_fn(student, teacher, 0.04)
    assert torch.equal(loss_fn.center, before)  # evaluation never moves the centre
    with pytest.raises(ValueError, match="crops must be"):
        loss_fn(student, [torch.randn(5, 6)], 0.04)


def blobs(n=48, dim=8):
    rng = np.random.default_rng(0)
    return (rng.normal(0, 3, size=(4, dim))[rng.integers(0, 4, size=n)] + rng.normal(0, 0.5, size=(n, dim))).astype(np.float32)


def vector_batch(adapter, n=16):
    ds = ViewsDataset(list(range(n)), adapter)
    return adapter.collate([ds[i] for i in range(n)])


def test_dino_schedules_teacher_without_gradient_and_frozen_last_layer():
    adapter = VectorAdapter(blobs(), corruption=0.3)
    torch.manual_seed(0)
    learner = build_learner("dino", adapter.build_encoder(), 64, num_prototypes=32)
    momentum_hook, schedule = learner.training_hooks()
    schedule.set_total_steps(100)
    schedule.before_step(0)
    assert learner.teacher_temperature == pytest.approx(0.04) and not learner.head.last_layer_trainable
    batch = vector_batch(adapter)
    learner(batch).backward()
    direction = learner.head.last_layer.parametrizations.weight.original1
    assert float(direction.grad.abs().sum()) == 0.0  # frozen: zero gradient, still in the graph (DDP-safe)
    assert learner.head.mlp[0].weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in learner.towers.momentum.parameters())  # the teacher learns only by EMA
    learner.zero_grad()
    schedule.before_step(15)  # past the 5% freeze, halfway through the 30% warm-up
    assert learner.teacher_temperature == pytest.approx(0.04 + 0.03 * 15 / 30) and learner.head.last_layer_trainable
    learner(batch).backward()
    assert float(direction.grad.abs().sum()) > 0
    assert learner.head.last_layer.parametrizations.weight.original0.grad is None  # the norm stays 1


def test_dino_teacher_sees_only_global_crops():
    series = [np.sin(np.linspace(0, 6, 40) + p)[:, None] + 0.05 * np.random.default_rng(int(p)).normal(size=(40, 1)) for p in range(12)]
    adapter = SequenceAdapter(series, embed_dim=32)
    dataset = MultiCropDataset(adapter.samples, adapter, MultiCropSpec(global_crops=2, local_crops=3))
    batch = dataset.collate([dataset[i] for i in range(8)])
    assert isinstance(batch, MultiCropBatch) and len(batch.crops) == 5 and batch.num_anchors == 8
    torch.manual_seed(0)
    learner = build_learner("dino", adapter.build_encoder(), 32, num_prototypes=16)
    seen = []
    learner.towers.momentum.target.register_forward_hook(lambda m, i, o: seen.append(o.shape[0]))
    learner(batch)
    assert seen == [16]  # one teacher pass over the 2 x 8 global rows


def test_swav_prototypes_normalised_frozen_then_trained_and_queue_fills():
    adapter = VectorAdapter(blobs(), corruption=0.3)
    torch.manual_seed(0)
    learner = build_learner("swav", adapter.build_encoder(), 64, num_prototypes=10, queue_size=20, dataset_size=48)
    (schedule,) = learner.training_hooks()
    schedule.set_total_steps(100)
    with torch.no_grad():
        learner.prototypes.weight.mul_(3.0)
    schedule.before_step(0)
    torch.testing.assert_close(learner.prototypes.weight.norm(dim=1), torch.ones(10))
    batch = vector_batch(adapter)
    learner(batch).backward()
    assert float(learner.prototypes.weight.grad.abs().sum()) == 0.0 and not learner.queue_active
    learner.zero_grad()
    schedule.before_step(20)  # past the freeze and the queue start
    learner(batch).backward()
    assert float(learner.prototypes.weight.grad.abs().sum()) > 0
    assert int(learner.queue_filled) == 16 and learner.last_stats["queue_in_use"] == 0.0
    learner(batch)
    assert int(learner.queue_filled) == 20 and learner.last_stats["queue_in_use"] == 0.0  # full only after this enqueue
    learner(batch)
    assert learner.last_stats["queue_in_use"] == 1.0


@pytest.mark.parametrize("method", ["swav", "dino"])
def test_multi_crop_training_on_audio_through_the_trainer(method, tmp_path):
    rng = np.random.default_rng(0)
    t = np.arange(1600) / 8000
    waves = [np.sin(2 * np.pi * (200 + 100 * (i % 3)) * t).astype(np.float32) * 0.5 + 0.01 * rng.normal(size=1600).astype(np.float32)
             for i in range(12)]
    adapter = AudioAdapter(waves, 8000, views=WaveViews(crop_seconds=0.2), embed_dim=32, n_mels=16)
    spec = MultiCropSpec(global_crops=2, global_share=(0.8, 1.0), local_crops=2, local_share=(0.3, 0.5))
    dataset = MultiCropDataset(list(range(12)), adapter, spec)
    item = dataset[0]
    assert all(0.8 * 1600 <= len(c) <= 1600 for c in item["global"]) and all(len(c) <= 0.5 * 1600 for c in item["local"])
    assert [len(c) for c in dataset[5]["global"]] == [len(c) for c in dataset[5]["global"]]  # seeded: reproducible
    torch.manual_seed(0)
    learner = build_learner(method, adapter.build_encoder(), 32, num_prototypes=16, dataset_size=12, queue_size=8)
    cfg = TrainerConfig(out_dir=str(tmp_path), max_steps=3, batch_size=6, progress_bar=False, tensorboard=False, log_every=1)
    summary = Trainer(learner, dataset, dataset.collate, cfg).train()
    losses = [json.loads(line)["train/loss"] for line in (tmp_path / "metrics.jsonl").read_text().splitlines() if "train/loss" in line]
    assert summary["steps"] == 3 and len(losses) == 3 and all(math.isfinite(x) for x in losses)


def test_multi_crop_refuses_an_adapter_without_crops():
    with pytest.raises(TypeError, match="crop_view"):
        MultiCropDataset(list(range(4)), VectorAdapter(blobs(8)))
    with pytest.raises(ValueError, match="global crops"):
        MultiCropSpec(global_crops=1)


def test_dino_head_output_and_weight_norm():
    head = DINOHead(16, out_dim=32, hidden_dim=24, bottleneck_dim=8)
    out = head(torch.randn(5, 16))
    assert out.shape == (5, 32)
    assert float(out.detach().abs().max()) <= 1.0 + 1e-5  # normalised bottleneck x unit-norm rows: cosine logits


@pytest.mark.slow
def test_sinkhorn_and_dino_centre_over_two_ranks_equal_one_process(tmp_path):
    """The sums all-reduced: 2 ranks x 8 rows give the codes and centre of 16 rows in one process."""
    import os
    import socket
    import subprocess
    import sys
    from pathlib import Path

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    script = Path(__file__).with_name("ddp_sinkhorn_script.py")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(port), str(script), str(tmp_path)]
    result = subprocess.run(cmd, env={**os.environ, "OMP_NUM_THREADS": "1", "MASTER_ADDR": "127.0.0.1"}, capture_output=True,
                            text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    g = torch.Generator().manual_seed(0)
    scores = torch.randn(16, 6, generator=g)
    teacher = [torch.randn(16, 6, generator=g) for _ in range(2)]
    whole = sinkhorn_knopp(scores, epsilon=0.1, iterations=3)
    torch.testing.assert_close(torch.tensor(ranks[0]["codes"] + ranks[1]["codes"]), whole, rtol=1e-5, atol=1e-6)
    single = DINOLoss(6)
    single.update_center(teacher)
    for r in ranks:
        torch.testing.assert_close(torch.tensor(r["center"]), single.center, rtol=1e-5, atol=1e-6)
