"""Trainer: exact resume after a kill, atomic checkpoints, logging, best-model selection."""
import json

import pytest
import torch
from safetensors.torch import load_file

from multicl.modalities.views_dataset import ViewsDataset
from multicl.modalities.text import TextAdapter, TextSample
from multicl.objectives import build_objective
from multicl.train.config import TrainerConfig
from multicl.train.learner import ContrastiveLearner
from multicl.train.trainer import Trainer

SENTENCES = [f"sentence number {i} talks about topic {i % 7} and colour {i % 3}" for i in range(40)]


class Killed(Exception):
    pass


def make_trainer(model_path, out_dir, callbacks=(), **overrides):
    torch.manual_seed(123)
    adapter = TextAdapter.from_pretrained(model_path, max_length=16)
    learner = ContrastiveLearner(adapter.build_encoder(), build_objective("info_nce", temperature=0.1, learnable_temperature=True))
    cfg = TrainerConfig(
        out_dir=str(out_dir), max_steps=10, batch_size=8, eval_every=3, save_every=3,
        log_every=1, seed=7, progress_bar=False, **{"learning_rate": 1e-3, **overrides},
    )

    def evaluate(encoder):
        emb = encoder(adapter.prepare_inputs(SENTENCES[:6]))
        return {"mean_norm": float(emb.norm(dim=-1).mean())}

    dataset = ViewsDataset([TextSample(s) for s in SENTENCES], adapter, seed=7)
    return Trainer(learner, dataset, adapter.collate, cfg, evaluate=evaluate, primary_metric="mean_norm", callbacks=callbacks), learner


def test_killed_and_resumed_run_matches_uninterrupted_run(tiny_text_model, tmp_path):
    trainer, learner = make_trainer(tiny_text_model, tmp_path / "full")
    summary = trainer.train()
    full_state = {k: v.clone() for k, v in learner.state_dict().items()}

    def kill_at_step_8(step, logs):
        if step == 8:
            raise Killed()

    trainer, _ = make_trainer(tiny_text_model, tmp_path / "resumed", callbacks=[kill_at_step_8])
    with pytest.raises(Killed):
        trainer.train()
    checkpoints = sorted(p.name for p in (tmp_path / "resumed" / "checkpoints").iterdir())
    assert checkpoints == ["run_identity.json", "step-000006"]  # keep=1, and no temp folder left behind
    trainer, learner = make_trainer(tiny_text_model, tmp_path / "resumed")
    resumed_summary = trainer.train()
    assert resumed_summary["resumed_from_step"] == 6
    for key, value in learner.state_dict().items():
        torch.testing.assert_close(value, full_state[key], rtol=0, atol=0, msg=key)

    full_log = [json.loads(l) for l in (tmp_path / "full" / "metrics.jsonl").read_text().splitlines()]
    resumed_log = [json.loads(l) for l in (tmp_path / "resumed" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in resumed_log] == [r["step"] for r in full_log]  # killed steps 7-8 not duplicated
    for a, b in zip(full_log, resumed_log):
        assert a == pytest.approx(b, rel=1e-6)
    assert summary["best_step"] == resumed_summary["best_step"]
    best = load_file(str(tmp_path / "resumed" / "best" / "model.safetensors"))
    assert best  # the best model folder exists and holds weights


def test_learnable_temperature_and_logs(tiny_text_model, tmp_path):
    trainer, learner = make_trainer(tiny_text_model, tmp_path / "run", max_grad_norm=0.5)
    trainer.train()
    records = [json.loads(l) for l in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in records if "train/loss" in r]
    assert len(train) == 10 and all(r["train/grad_norm"] >= 0 for r in train)
    assert train[0]["train/temperature"] != train[-1]["train/temperature"]
    assert any("eval/mean_norm" in r for r in records)
    assert (tmp_path / "run" / "tensorboard").is_dir()
    assert (tmp_path / "run" / "trainer_summary.json").exists()


def test_gradient_accumulation_and_bf16_on_cpu(tiny_text_model, tmp_path):
    trainer, _ = make_trainer(tiny_text_model, tmp_path / "acc", grad_accum_steps=2, precision="bf16")
    summary = trainer.train()
    assert summary["steps"] == 10


def test_config_errors():
    with pytest.raises(ValueError, match="precision"):
        TrainerConfig(out_dir="x", precision="fp8")
    with pytest.raises(ValueError, match="batch_size"):
        TrainerConfig(out_dir="x", batch_size=1)


def test_resume_with_other_settings_is_refused(tiny_text_model, tmp_path):
    trainer, _ = make_trainer(tiny_text_model, tmp_path / "run")
    trainer.train()
    trainer, _ = make_trainer(tiny_text_model, tmp_path / "run", learning_rate=5e-4)
    with pytest.raises(ValueError, match="learning_rate"):
        trainer.train()
    trainer, _ = make_trainer(tiny_text_model, tmp_path / "run", learning_rate=5e-4, resume=False)
    assert trainer.train()["resumed_from_step"] == 0


def test_eval_at_start_keeps_the_initial_model_when_training_never_beats_it(tiny_text_model, tmp_path):
    trainer, learner = make_trainer(tiny_text_model, tmp_path / "run", eval_at_start=True)
    trainer.evaluate_fn = lambda encoder: {"mean_norm": 1.0}  # flat: no step is strictly better
    initial = {k: v.clone() for k, v in learner.state_dict().items()}
    summary = trainer.train()
    assert summary["best_step"] == 0
    best = load_file(str(tmp_path / "run" / "best" / "model.safetensors"))
    for key, value in best.items():
        torch.testing.assert_close(value, initial[key], rtol=0, atol=0)
