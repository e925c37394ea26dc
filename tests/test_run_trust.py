"""Engine v2, "runs you can trust": run identity, resume with a longer run, checkpoints of
hooks / every rank / an early stop, the hook protocol, atomic output folders, DDP buffers.

Most tests use a self-contained toy learner (a linear encoder on random vectors), so they
depend only on the trainer; the recipe tests use the tiny BERT fixture.
"""
from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from multicl.objectives import TemperatureSchedule, build_objective
from multicl.recipes import text_simcse
from multicl.recipes._cli import prepare_out_dir
from multicl.train.checkpoint import latest_checkpoint, load_rng_state
from multicl.train.config import TrainerConfig
from multicl.train.hooks import NoOpHook
from multicl.train.momentum import MomentumEncoder, MomentumSchedule
from multicl.train.monitor import CollapseMonitor
from multicl.train.run_identity import RunIdentityError, config_fingerprint
from multicl.train.trainer import Trainer, build_accelerator
from multicl.utils.io import replace_directory

DIM = 6
DATA = torch.randn(64, DIM, generator=torch.Generator().manual_seed(0))


class Killed(Exception):
    pass


class ToyDataset(torch.utils.data.Dataset):
    """Like ViewsDataset: index ``epoch * len + i`` is row i (the sampler numbers epochs so)."""

    def __len__(self):
        return len(DATA)

    def __getitem__(self, index):
        return DATA[index % len(DATA)]


def collate(rows):
    x = torch.stack(rows)  # (B, D)
    noise = 0.1 * torch.randn(2, *x.shape)
    return {"num_anchors": len(rows), "inputs": {"x": torch.cat([x + noise[0], x + noise[1]])}}


class ToyEncoder(nn.Module):
    embed_dim = DIM

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(DIM, DIM)

    def forward(self, inputs):
        return self.linear(inputs["x"])


class ToyLearner(nn.Module):
    """InfoNCE between two noisy views; ``training_hooks()`` when given hooks (a Learner),
    else none (a plain module, the transition path)."""

    def __init__(self, temperature=0.2) -> None:
        super().__init__()
        self.encoder = ToyEncoder()
        self.objective = build_objective("info_nce", temperature=temperature)
        self.last_stats: dict[str, float] = {}

    def forward(self, batch):
        n = batch["num_anchors"]
        z = self.encoder(batch["inputs"])
        return self.objective(z[:n], z[n:])


class HookedLearner(ToyLearner):
    def __init__(self, hooks, temperature=0.2) -> None:
        super().__init__(temperature)
        self.hooks = list(hooks)

    def training_hooks(self):
        return self.hooks


class RecordingHook(NoOpHook):
    """Counts what the trainer calls; its state has a numpy array and plain values."""

    def __init__(self) -> None:
        self.total = None
        self.before: list[int] = []
        self.after: list[int] = []
        self.autocast_in_before: list[bool] = []
        self.seen = np.zeros(3, dtype=np.float32)

    def set_total_steps(self, total_steps):
        self.total = total_steps

    def before_step(self, step):
        self.before.append(step)
        self.autocast_in_before.append(torch.is_autocast_enabled("cpu"))

    def after_step(self, step):
        self.after.append(step)
        self.seen = self.seen + 1

    def state_dict(self):
        return {"after": list(self.after), "seen": self.seen}

    def load_state_dict(self, state):
        self.after = list(state["after"])
        self.seen = state["seen"]


class ToyInputs(dict):
    def to(self, device):
        return ToyInputs({k: v.to(device) for k, v in self.items()})


class ToyRole:
    def __init__(self, x):
        self.inputs = ToyInputs(x=x)


class ToyProbe:
    """What CollapseMonitor.measure reads of a probe batch: two views of the same rows."""

    def __init__(self, x):
        self.anchors, self.positives = ToyRole(x), ToyRole(x + 0.1 * torch.randn(x.shape, generator=torch.Generator().manual_seed(1)))


def toy_trainer(out_dir, learner=None, callbacks=(), monitor=None, run_identity=None, **overrides):
    torch.manual_seed(0)
    learner = learner if learner is not None else ToyLearner()
    settings = {"max_steps": 10, "batch_size": 8, "log_every": 1, "learning_rate": 1e-2, "progress_bar": False,
                "tensorboard": False, "save_every": 2, "seed": 3, "device": "cpu", **overrides}
    cfg = TrainerConfig(out_dir=str(out_dir), **settings)
    return Trainer(learner, ToyDataset(), collate, cfg, callbacks=callbacks, monitor=monitor, run_identity=run_identity)


def train_log(out_dir):
    return [json.loads(line) for line in (Path(out_dir) / "metrics.jsonl").read_text().splitlines()]


def kill_at(step):
    def callback(s, logs):
        if s == step:
            raise Killed()
    return callback


# -- 1. run identity ---------------------------------------------------------------------------

def write_text_files(tmp_path):
    sentences = tmp_path / "train.txt"
    sentences.write_text("\n".join(f"the {c} {a} runs across the {p}" for c in ["red", "blue", "green"] for a in ["dog", "cat"] for p in ["field", "road"]) + "\n")
    dev = tmp_path / "dev.tsv"
    dev.write_text("".join(f"g\tf\t2012\t{i}\t{i % 5}.0\tthe red dog runs {i}\ta blue cat sleeps {i}\n" for i in range(8)))
    return sentences, dev


def simcse_argv(model, out, sentences, dev, *extra):
    return ["--model", model, "--out-dir", str(out), "--train-file", str(sentences), "--dev-file", str(dev), "--device", "cpu",
            "--max-steps", "2", "--batch-size", "4", "--eval-every", "2", "--max-length", "16", "--no-keep-initial-if-better",
            "--mode", "unsup", *extra]


def test_recipe_rerun_with_other_settings_refuses_and_overwrite_retrains(tiny_text_model, tmp_path):
    sentences, dev = write_text_files(tmp_path)
    out = tmp_path / "out"
    text_simcse.cli(simcse_argv(tiny_text_model, out, sentences, dev))
    assert json.loads((out / "trainer_summary.json").read_text())["steps"] == 2
    # the known bug: a finished folder + other settings used to load the old checkpoint and train 0 steps
    with pytest.raises(RunIdentityError) as refused:
        text_simcse.cli(simcse_argv(tiny_text_model, out, sentences, dev, "--temperature", "0.1"))
    message = str(refused.value)
    assert "temperature: 0.05 -> 0.1" in message and "--out-dir" in message and "--overwrite" in message
    assert json.loads((out / "config.json").read_text())["temperature"] == 0.05  # checked before written
    # a changed data file is a changed run too
    sentences.write_text(sentences.read_text() + "one more sentence about a horse\n")
    with pytest.raises(RunIdentityError, match=r"train_file \(content\)"):
        text_simcse.cli(simcse_argv(tiny_text_model, out, sentences, dev))
    # --overwrite: cleared and trained again from step 0 with the new settings
    text_simcse.cli(simcse_argv(tiny_text_model, out, sentences, dev, "--temperature", "0.1", "--overwrite"))
    summary = json.loads((out / "trainer_summary.json").read_text())
    assert summary["resumed_from_step"] == 0 and summary["steps"] == 2
    assert [r["step"] for r in train_log(out) if "train/loss" in r] == [2]  # the old run's log went with it
    assert json.loads((out / "config.json").read_text())["temperature"] == 0.1
    assert (out / "model" / "modules.json").exists()


def test_recipe_flags_include_overwrite(capsys):
    with pytest.raises(SystemExit):
        text_simcse.cli(["--help"])
    assert "--overwrite" in capsys.readouterr().out


def test_fingerprint_hashes_named_files_and_leaves_out_resume_free_fields(tmp_path):
    data = tmp_path / "data.txt"
    data.write_text("abc")
    cfg = text_simcse.Config(train_file=str(data), out_dir=str(tmp_path / "o"), max_steps=5)
    fingerprint = config_fingerprint(cfg)
    assert "max_steps" not in fingerprint and "out_dir" not in fingerprint and "overwrite" not in fingerprint
    assert fingerprint["temperature"] == 0.05
    assert fingerprint["train_file (content)"].startswith("size=3 sha256=")
    assert config_fingerprint(text_simcse.Config(train_file=str(data), out_dir="elsewhere", max_steps=99)) == fingerprint


def test_folders_from_before_fingerprints_are_checked_against_their_config_json(tmp_path):
    out = tmp_path / "old_run"
    out.mkdir()
    (out / "config.json").write_text(json.dumps(dataclasses.asdict(text_simcse.Config(out_dir=str(out)))))
    with pytest.raises(RunIdentityError, match="temperature: 0.05 -> 0.2"):
        prepare_out_dir(text_simcse.Config(out_dir=str(out), temperature=0.2))
    prepare_out_dir(text_simcse.Config(out_dir=str(out), max_steps=999))  # same run, longer: fine
    assert (out / "run_identity.json").exists()


def test_run_folder_records_versions_and_thread_count(tmp_path):
    out, _ = prepare_out_dir(text_simcse.Config(out_dir=str(tmp_path / "run")))
    facts = json.loads((out / "environment.json").read_text())
    assert facts["torch"] == torch.__version__ and facts["torch_threads"] == torch.get_num_threads() >= 1
    assert {"python", "numpy", "OMP_NUM_THREADS", "cpu_count", "device"} <= set(facts)


def test_same_seed_same_threads_gives_the_same_weights(tmp_path):
    # what makes a CPU figure repeatable (environment.json records the thread count it also depends on)
    weights = []
    for name in ("a", "b"):
        torch.manual_seed(0)
        learner = ToyLearner()
        start = [p.detach().clone() for p in learner.parameters()]
        toy_trainer(tmp_path / name, learner=learner).train()
        weights.append([p.detach().clone() for p in learner.parameters()])
        assert not all(torch.equal(x, y) for x, y in zip(start, weights[-1]))  # it trained
    assert all(torch.equal(x, y) for x, y in zip(*weights))


def test_overwrite_refuses_to_empty_a_folder_that_is_not_a_run(tmp_path):
    (tmp_path / "notes.txt").write_text("precious")
    with pytest.raises(RunIdentityError, match="does not look like a multicl run folder"):
        prepare_out_dir(text_simcse.Config(out_dir=str(tmp_path), overwrite=True))
    assert (tmp_path / "notes.txt").read_text() == "precious"


def test_trainer_refuses_another_run_identity_and_overwrite_starts_over(tmp_path):
    toy_trainer(tmp_path, run_identity={"temperature": 0.2}).train()
    with pytest.raises(RunIdentityError, match=r"recipe\.temperature: 0\.2 -> 0\.5"):
        toy_trainer(tmp_path, run_identity={"temperature": 0.5}).train()
    with pytest.raises(ValueError, match="learning_rate"):
        toy_trainer(tmp_path, run_identity={"temperature": 0.2}, learning_rate=0.5).train()
    summary = toy_trainer(tmp_path, run_identity={"temperature": 0.5}, overwrite=True).train()
    assert summary["resumed_from_step"] == 0 and summary["steps"] == 10
    assert toy_trainer(tmp_path, run_identity={"temperature": 0.5}).train()["resumed_from_step"] == 10  # same run: resumes


# -- 2. a longer run on resume ------------------------------------------------------------------

def test_resume_with_more_steps_rebuilds_the_schedule(tmp_path):
    first = toy_trainer(tmp_path, learner=HookedLearner([RecordingHook()]), max_steps=10, warmup_ratio=0.0).train()
    assert first["steps"] == 10
    hook = RecordingHook()
    summary = toy_trainer(tmp_path, learner=HookedLearner([hook]), max_steps=20, warmup_ratio=0.0).train()
    assert summary["resumed_from_step"] == 10 and summary["steps"] == 20
    lrs = {r["step"]: r["train/lr"] for r in train_log(tmp_path) if "train/lr" in r}
    assert sorted(lrs) == list(range(1, 21))
    assert all(lrs[s] > 0 for s in range(11, 20)), lrs  # not the old schedule's 0
    assert lrs[11] == pytest.approx(1e-2 * (1 - 11 / 20))  # the new total's linear decay
    assert hook.total == 20 and hook.after == list(range(1, 21))  # state restored, then 10 more steps


# -- 3. checkpoints: default interval, every rank's RNG, hooks, an early stop ---------------------

def test_checkpoints_are_on_by_default():
    assert TrainerConfig(out_dir="x").save_every is None
    assert TrainerConfig(out_dir="x", max_steps=1000).checkpoint_every == 100
    assert TrainerConfig(out_dir="x", max_steps=100_000).checkpoint_every == 500
    assert TrainerConfig(out_dir="x", max_steps=5).checkpoint_every == 1
    assert TrainerConfig(out_dir="x", max_steps=1000, save_every=0).checkpoint_every == 0
    with pytest.raises(ValueError, match="save_every"):
        TrainerConfig(out_dir="x", save_every=-1)


def test_a_killed_run_with_default_checkpoints_resumes_near_the_kill(tmp_path):
    with pytest.raises(Killed):
        toy_trainer(tmp_path, max_steps=30, save_every=None, callbacks=[kill_at(8)]).train()
    assert latest_checkpoint(tmp_path / "checkpoints").name == "step-000006"  # every 30 // 10 = 3 steps
    assert toy_trainer(tmp_path, max_steps=30, save_every=None).train()["resumed_from_step"] == 6


def test_rng_state_per_rank_with_fallback_to_rank_0(tmp_path, caplog):
    toy_trainer(tmp_path, max_steps=2).train()
    checkpoint = latest_checkpoint(tmp_path / "checkpoints")
    assert (checkpoint / "rng-rank0.pt").exists() and not (checkpoint / "rng.pt").exists()
    own = load_rng_state(checkpoint, rank=0)
    with caplog.at_level(logging.WARNING, logger="multicl.train.checkpoint"):
        other = load_rng_state(checkpoint, rank=1)  # a resume with more processes than wrote it
    assert "no RNG state for rank 1" in caplog.text
    assert torch.equal(own["torch"], other["torch"])


def test_hooks_are_called_checkpointed_and_restored(tmp_path):
    hook = RecordingHook()
    with pytest.raises(Killed):
        toy_trainer(tmp_path, learner=HookedLearner([hook]), precision="bf16", callbacks=[kill_at(5)]).train()
    assert hook.total == 10
    assert hook.before == [0, 1, 2, 3, 4] and hook.after == [1, 2, 3, 4, 5]
    assert all(hook.autocast_in_before)  # called under the trainer's autocast
    resumed = RecordingHook()
    toy_trainer(tmp_path, learner=HookedLearner([resumed]), precision="bf16").train()
    assert resumed.after == list(range(1, 11))  # steps 1-4 from the checkpoint's hooks.pt, then 5-10
    assert isinstance(resumed.seen, np.ndarray) and resumed.seen.tolist() == [10.0] * 3
    assert resumed.before == [4, 5, 6, 7, 8, 9]


def test_a_module_hook_takes_the_run_length_from_the_trainer(tmp_path):
    learner = HookedLearner([], temperature=TemperatureSchedule(0.5, 0.1, kind="linear"))  # no total_steps of its own
    learner.hooks = [learner.objective.temperature]  # a Temperature is a StepHook
    toy_trainer(tmp_path, learner=learner, max_steps=4).train()
    assert float(learner.objective.temperature()) == pytest.approx(0.1)


def test_momentum_encoder_takes_the_run_length_from_set_total_steps():
    ema = MomentumEncoder(nn.Linear(2, 2), MomentumSchedule(0.5, 1.0))
    with pytest.raises(ValueError, match="set_total_steps"):
        ema.update(nn.Linear(2, 2), 1)
    ema.set_total_steps(10)
    ema.update(nn.Linear(2, 2), 10)
    assert ema.last_momentum == pytest.approx(1.0)


def test_a_collapse_stop_survives_a_rerun(tmp_path):
    probe = ToyProbe(DATA[:16])

    def monitor():
        return CollapseMonitor(probe, every=2, min_dim_std=1.0)  # dim_std < 1 always: fires at step 2

    summary = toy_trainer(tmp_path, monitor=monitor()).train()
    assert summary["stopped_early"] and summary["steps"] == 2
    log_before = (tmp_path / "metrics.jsonl").read_text()
    rerun = toy_trainer(tmp_path, monitor=monitor(), max_steps=20).train()
    assert rerun["stopped_early"] == summary["stopped_early"] and rerun["steps"] == 2
    assert (tmp_path / "metrics.jsonl").read_text() == log_before  # no step trained
    assert toy_trainer(tmp_path, monitor=monitor(), overwrite=True, max_steps=1).train()["steps"] == 1


def test_monitor_history_is_restored_on_resume(tmp_path):
    probe = ToyProbe(DATA[:16])
    full = CollapseMonitor(probe, every=2, stop=False)
    toy_trainer(tmp_path / "full", monitor=full).train()
    with pytest.raises(Killed):
        toy_trainer(tmp_path / "resumed", monitor=CollapseMonitor(probe, every=2, stop=False), callbacks=[kill_at(5)]).train()
    resumed = CollapseMonitor(probe, every=2, stop=False)
    toy_trainer(tmp_path / "resumed", monitor=resumed).train()
    assert [h["step"] for h in resumed.history] == [2, 4, 6, 8, 10]
    assert [h["step"] for h in full.history] == [2, 4, 6, 8, 10]


# -- 6. atomic output folders ------------------------------------------------------------------

def test_replace_directory_keeps_the_old_folder_when_writing_fails(tmp_path):
    dest = tmp_path / "model"
    dest.mkdir()
    (dest / "weights.bin").write_text("old")

    def failing_writer(folder):
        (folder / "weights.bin").write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        replace_directory(failing_writer, dest)
    assert (dest / "weights.bin").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # no temp folder left

    replace_directory(lambda folder: (folder / "weights.bin").write_text("new"), dest)
    assert (dest / "weights.bin").read_text() == "new"
    source = tmp_path / "best"
    source.mkdir()
    (source / "other.bin").write_text("best")
    replace_directory(source, dest)
    assert sorted(p.name for p in dest.iterdir()) == ["other.bin"]  # replaced, not merged
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best", "model"]


# -- 7. DDP -------------------------------------------------------------------------------------

def test_ddp_does_not_broadcast_buffers():
    accelerator = build_accelerator(TrainerConfig(out_dir="x", device="cpu"))
    assert accelerator.ddp_handler.to_kwargs()["broadcast_buffers"] is False


def test_ctrl_c_finishes_the_step_writes_a_checkpoint_and_the_rerun_resumes(tmp_path):
    import os
    import signal

    def press_ctrl_c(step, logs):
        if step == 3:
            os.kill(os.getpid(), signal.SIGINT)  # what the terminal sends

    before = signal.getsignal(signal.SIGINT)  # default_int_handler in a terminal; SIG_IGN under `nohup ... &`
    with pytest.raises(KeyboardInterrupt, match="interrupted at step 3"):
        toy_trainer(tmp_path, callbacks=[press_ctrl_c], max_steps=10, save_every=0).train()
    assert (tmp_path / "checkpoints" / "step-000003").is_dir()  # written although save_every=0
    assert signal.getsignal(signal.SIGINT) is before  # the handler is restored
    summary = toy_trainer(tmp_path, max_steps=10, save_every=0).train()
    assert summary["resumed_from_step"] == 3 and summary["steps"] == 10
