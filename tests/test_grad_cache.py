"""GradCache gives the uncached loss's gradients (1e-5), dropout included, for every tower layout."""
import numpy as np
import pytest
import torch
from torch import nn

from multicl.data.text_sample import TextSample
from multicl.modalities.text import TextAdapter
from multicl.modalities.views_dataset import ViewsDataset
from multicl.objectives import build_objective
from multicl.train.grad_cache import GradCache
from multicl.train.learner import ContrastiveLearner
from multicl.types.batch import ContrastiveBatch, RoleBatch
from multicl.types.inputs import TensorInputs

TOL = 1e-5


@pytest.fixture(scope="module")
def text_setup(tiny_text_model):
    adapter = TextAdapter.from_pretrained(tiny_text_model, max_length=16, dropout=0.1)
    samples = [TextSample(f"sentence number {i} about topic {i % 3} and more {'words ' * (i % 4)}") for i in range(12)]
    batch = adapter.collate([ViewsDataset(samples, adapter, seed=0)[i] for i in range(12)])
    return adapter, batch


def _grads(learner: nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.grad.detach().clone() for n, p in learner.named_parameters() if p.grad is not None}


def _uncached(learner, batch, seed, embed=None):
    learner.zero_grad(set_to_none=True)
    torch.manual_seed(seed)
    loss = learner(batch, embed=embed)
    loss.backward()
    return float(loss.detach()), _grads(learner)


def _chunked_reference(learner, batch, seed, chunk):
    """The uncached loss of a model whose embedding pass runs ``chunk`` rows at a time, with
    gradient: the same stochastic function GradCache computes (dropout drawn per mini-batch)."""
    from multicl.types.inputs import cat_inputs

    def embed(batch_, roles):
        n = batch_.num_anchors
        inputs = cat_inputs([batch_.anchors.inputs] + [r.inputs for r in roles])
        z = torch.cat([learner.towers.embed_anchors(inputs.select(torch.arange(s, min(s + chunk, inputs.num_rows))))
                       for s in range(0, inputs.num_rows, chunk)])
        return z[:n], z[n:]

    return _uncached(learner, batch, seed, embed=embed)


def _cached(learner, batch, seed, chunk):
    learner.zero_grad(set_to_none=True)
    torch.manual_seed(seed)
    loss = GradCache(learner, chunk).step(batch)
    return float(loss), _grads(learner)


def _assert_same(a, b, tol=TOL):
    (loss_a, grads_a), (loss_b, grads_b) = a, b
    assert loss_a == pytest.approx(loss_b, abs=tol)
    assert grads_a.keys() == grads_b.keys() and grads_a
    worst = max(float((grads_a[k] - grads_b[k]).abs().max()) for k in grads_a)
    assert worst < tol, worst


def test_one_chunk_equals_uncached_step_with_dropout(text_setup):
    adapter, batch = text_setup
    torch.manual_seed(0)
    learner = ContrastiveLearner(adapter.build_encoder(), build_objective("info_nce", temperature=0.05)).train()
    _assert_same(_cached(learner, batch, 3, chunk=10_000), _uncached(learner, batch, 3))


def test_mini_batches_replay_their_dropout(text_setup):
    adapter, batch = text_setup
    torch.manual_seed(0)
    learner = ContrastiveLearner(adapter.build_encoder(), build_objective("info_nce", temperature=0.05)).train()
    reference = _chunked_reference(learner, batch, 3, chunk=5)
    _assert_same(_cached(learner, batch, 3, chunk=5), reference)
    # and the dropout is really on: another seed gives other gradients
    other = _chunked_reference(learner, batch, 4, chunk=5)
    assert max(float((reference[1][k] - other[1][k]).abs().max()) for k in other[1]) > 1e-4


def test_replay_without_the_saved_rng_would_differ(text_setup, monkeypatch):
    """Negative control: if the replay drew fresh dropout, the test above would fail."""
    from multicl.train import grad_cache

    adapter, batch = text_setup
    torch.manual_seed(0)
    learner = ContrastiveLearner(adapter.build_encoder(), build_objective("info_nce", temperature=0.05)).train()
    reference = _chunked_reference(learner, batch, 3, chunk=5)
    monkeypatch.setattr(grad_cache.RandomState, "restore", lambda self: None)
    _, grads = _cached(learner, batch, 3, chunk=5)
    assert max(float((grads[k] - reference[1][k]).abs().max()) for k in grads) > 1e-4


def test_mini_batches_without_dropout_equal_the_whole_batch(text_setup):
    adapter, batch = text_setup
    torch.manual_seed(0)
    learner = ContrastiveLearner(adapter.build_encoder(), build_objective("info_nce", temperature=0.05)).eval()
    _assert_same(_cached(learner, batch, 0, chunk=3), _uncached(learner, batch, 0))


class _Mlp(nn.Module):
    def __init__(self, in_dim: int, embed_dim: int = 8) -> None:
        super().__init__()
        self.embed_dim = embed_dim
        self.net = nn.Sequential(nn.Linear(in_dim, 16), nn.GELU(), nn.Dropout(0.2), nn.Linear(16, embed_dim))

    def forward(self, inputs):
        return self.net(inputs["x"])


def _two_view_rows(dim: int, n: int = 16):
    return TensorInputs({"x": torch.from_numpy(np.random.default_rng(dim).normal(size=(n, dim)).astype(np.float32))})


def test_two_towers_and_a_learnable_temperature():
    meta = {"instance_id": torch.arange(16), "group_id": torch.arange(16)}
    batch = ContrastiveBatch(RoleBatch(_two_view_rows(6), meta), RoleBatch(_two_view_rows(3), meta))
    torch.manual_seed(0)
    learner = ContrastiveLearner(_Mlp(6), build_objective("clip"), candidate_encoder=_Mlp(3)).train()
    cached, uncached = _cached(learner, batch, 1, chunk=16), _uncached(learner, batch, 1)
    _assert_same(cached, uncached)
    assert any("temperature" in k for k in cached[1])  # the objective's own parameter got its gradient
    assert any(k.startswith("towers.candidate") for k in cached[1])
    learner.eval()
    _assert_same(_cached(learner, batch, 1, chunk=5), _uncached(learner, batch, 1))


def test_momentum_candidate_tower_is_embedded_once_without_replay():
    from multicl.train.momentum import MomentumSchedule

    meta = {"instance_id": torch.arange(16), "group_id": torch.arange(16)}
    batch = ContrastiveBatch(RoleBatch(_two_view_rows(6), meta), RoleBatch(_two_view_rows(6, 16), meta))
    torch.manual_seed(0)
    learner = ContrastiveLearner(_Mlp(6), build_objective("info_nce"), momentum=MomentumSchedule(0.9, 0.9),
                                 queue_size=8, embed_dim=8).eval()
    torch.manual_seed(0)
    twin = ContrastiveLearner(_Mlp(6), build_objective("info_nce"), momentum=MomentumSchedule(0.9, 0.9),
                              queue_size=8, embed_dim=8).eval()
    _assert_same(_cached(learner, batch, 0, chunk=5), _uncached(twin, batch, 0))


def test_batchnorm_is_refused():
    encoder = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8))
    with pytest.raises(ValueError, match="BatchNorm"):
        GradCache(ContrastiveLearner(encoder, build_objective("info_nce"), embed_dim=8), 4)


def _train(tiny_text_model, out_dir, **overrides):
    from multicl.train.config import TrainerConfig
    from multicl.train.trainer import Trainer

    adapter = TextAdapter.from_pretrained(tiny_text_model, max_length=16, dropout=0.0)
    samples = [TextSample(f"sentence {i} about topic {i % 5}") for i in range(32)]
    torch.manual_seed(0)
    learner = ContrastiveLearner(adapter.build_encoder(), build_objective("info_nce", temperature=0.1))
    cfg = TrainerConfig(out_dir=str(out_dir), max_steps=3, batch_size=8, learning_rate=1e-3, progress_bar=False,
                        device="cpu", save_every=0, tensorboard=False, **overrides)
    Trainer(learner, ViewsDataset(samples, adapter), adapter.collate, cfg).train()
    return {k: v.detach().clone() for k, v in learner.state_dict().items()}


@pytest.mark.slow
def test_trainer_option_trains_like_the_plain_step(tiny_text_model, tmp_path):
    """Three optimizer steps (with accumulation of 2) with grad_cache_chunk=5 end at the plain run's weights."""
    plain = _train(tiny_text_model, tmp_path / "plain", grad_accum_steps=2)
    cached = _train(tiny_text_model, tmp_path / "cached", grad_accum_steps=2, grad_cache_chunk=5)
    worst = max(float((plain[k].float() - cached[k].float()).abs().max()) for k in plain)
    assert worst < 1e-5, worst
    moved = max(float((plain[k].float() - _initial(tiny_text_model)[k].float()).abs().max()) for k in plain)
    assert moved > 1e-4  # it trained


def _initial(tiny_text_model):
    adapter = TextAdapter.from_pretrained(tiny_text_model, max_length=16, dropout=0.0)
    torch.manual_seed(0)
    return ContrastiveLearner(adapter.build_encoder(), build_objective("info_nce", temperature=0.1)).state_dict()


def test_config_refuses_a_bad_chunk(tmp_path):
    from multicl.train.config import TrainerConfig

    with pytest.raises(ValueError, match="grad_cache_chunk"):
        TrainerConfig(out_dir=str(tmp_path), grad_cache_chunk=0)
