"""Two towers across modalities: the audio_text_matching recipe (audio CNN vs a text transformer)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
import torch

from multicl.recipes import audio_text_matching as att

FREQS = (300.0, 900.0, 2000.0)  # one tone per class: "zero", "one", "two"


def tone(freq: float, seconds: float, rate: int = 8000) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@pytest.fixture(scope="module")
def tone_folder(tmp_path_factory):
    """3 classes x 3 speakers (a pitch scale each) x 6 takes, FSDD-named."""
    rng = np.random.default_rng(0)
    folder = tmp_path_factory.mktemp("tones")
    for label, freq in enumerate(FREQS):
        for speaker, scale in (("a", 1.0), ("b", 1.02), ("c", 0.99)):
            for take in range(6):
                seconds = 0.25 + 0.02 * take
                wave = tone(freq * scale, seconds) + 0.01 * rng.standard_normal(int(seconds * 8000)).astype(np.float32)
                sf.write(folder / f"{label}_{speaker}_{take}.wav", wave, 8000)
    return folder


def tiny_args(folder, out, model, *extra):
    return ["--data-dir", str(folder), "--out-dir", str(out), "--device", "cpu", "--precision", "no", "--test-speakers", "c",
            "--dev-speaker", "b", "--words", "zero", "one", "two", "--text-model", model, "--channels", "8", "16", "--cmvn", "none", "--speed", "--mel-warp", "0", "--noise-snr-db", "--crop-seconds", "0",
            "--batch-size", "12", "--learning-rate", "1e-2", "--temperature", "0.1", "--specaugment", "0", "0", *extra]


def test_two_towers_learn_and_the_recipe_writes_its_outputs(tone_folder, tmp_path, tiny_text_model):
    out = tmp_path / "run"
    metrics = att.cli(tiny_args(tone_folder, out, tiny_text_model, "--seeds", "0", "--rows", "random_init", "two_towers", "--max-steps", "40",
                                "--save-text-tower"))
    assert metrics["two_towers/loss_last_mean"] < metrics["two_towers/loss_first_mean"]
    assert metrics["two_towers/a2t_recall@1_mean"] > 100 / 3 + 10  # 3-way: chance 33
    assert metrics["two_towers/a2t_recall@1_mean"] > metrics["random_init/a2t_recall@1_mean"]
    stored = json.loads((out / "metrics.json").read_text())
    assert stored["two_towers/a2t_recall@1_per_seed"] == [metrics["two_towers/a2t_recall@1_mean"]]
    seed_dir = out / "two_towers" / "seed0"
    assert json.loads((seed_dir / "config.json").read_text())["row"] == "two_towers"
    assert not (seed_dir / "checkpoints").exists()
    # both towers come back through the one saved-model format and embed into one space
    from multicl import EmbeddingModel

    audio_model, text_model = EmbeddingModel.load(seed_dir / "model" / "audio"), EmbeddingModel.load(seed_dir / "model" / "text")
    assert (audio_model.modality, text_model.modality) == ("audio", "text") and audio_model.embed_dim == text_model.embed_dim
    clips = sorted(tone_folder.glob("*_b_*.wav"))  # the held-out speaker's clips, from their files
    scores = audio_model.encode(clips) @ text_model.encode(["zero", "one", "two"]).T  # unit vectors: cosine
    labels = np.array([int(p.name.split("_")[0]) for p in clips])
    assert np.mean(scores.argmax(1) == labels) > 1 / 3 + 0.1
    assert "(c) two towers" in (out / "summary.md").read_text()
    with pytest.raises(FileExistsError, match="fresh --out-dir"):  # a finished run is never reused
        att.cli(tiny_args(tone_folder, out, tiny_text_model, "--seeds", "0", "--rows", "random_init"))


def test_frozen_text_tower_stays_fixed_and_dedup_matches_row_by_row(tiny_text_model):
    from multicl.modalities.text import TextAdapter

    text = TextAdapter.from_pretrained(tiny_text_model, max_length=4)
    inputs = text.prepare_inputs(["one", "two", "one", "three", "two"])
    torch.manual_seed(0)
    tower = att.WordTower(text.build_encoder()).eval()
    z = tower(inputs)
    direct = tower.encoder(dict(inputs))
    assert torch.allclose(z, direct, atol=1e-6)
    z.sum().backward()
    grad = {n: p.grad.clone() for n, p in tower.named_parameters() if p.grad is not None}
    tower.zero_grad()
    tower.encoder(dict(inputs)).sum().backward()
    for name, p in tower.named_parameters():
        if name in grad:
            assert torch.allclose(grad[name], p.grad, atol=1e-5), name
    frozen = att.WordTower(text.build_encoder(), frozen=True).train()
    assert not frozen.encoder.training and not any(p.requires_grad for p in frozen.parameters())


def test_matching_metrics_on_known_scores():
    words = np.eye(3, dtype=np.float32)
    clips = np.array([[1, 0, 0], [0, 1, 0], [0, 0.2, 1], [1, 0.5, 0]], dtype=np.float32)  # the last is wrong: word 1 ranks 2nd
    m = att.matching_metrics(clips, words, np.array([0, 1, 2, 1]))
    assert m["a2t_recall@1"] == 75.0 and m["a2t_recall@5"] == 100.0
    assert m["a2t_mrr"] == pytest.approx(100 * (1 + 1 + 1 + 0.5) / 4)
    # word 1 ranks clips 1 (1.0), 3 (0.5), 2 (0.2), 0: its clips {1, 3} come first -> AP 1; words 0 and 2 likewise
    assert m["t2a_map"] == pytest.approx(100.0)


def test_clear_errors_for_bad_speakers_and_rows(tone_folder, tmp_path, tiny_text_model):
    with pytest.raises(ValueError, match="not in"):
        att.cli(tiny_args(tone_folder, tmp_path / "x", tiny_text_model, "--test-speakers", "zed"))
    with pytest.raises(ValueError, match="expected one or more of"):
        att.cli(tiny_args(tone_folder, tmp_path / "y", tiny_text_model, "--rows", "three_towers"))
    with pytest.raises(ValueError, match="also a test speaker"):
        att.cli(tiny_args(tone_folder, tmp_path / "z", tiny_text_model, "--dev-speaker", "c"))


@pytest.mark.realdata
@pytest.mark.slow
def test_fsdd_two_towers_beat_random_init_after_a_short_run(tmp_path, shared_data):
    recordings = shared_data / "audio" / "fsdd" / "recordings"
    metrics = att.cli(["--data-dir", str(recordings), "--out-dir", str(tmp_path / "fsdd"), "--device", "cpu", "--seeds", "0",
                       "--rows", "random_init", "two_towers", "--max-steps", "80"])
    assert metrics["two_towers/a2t_recall@1_mean"] > metrics["random_init/a2t_recall@1_mean"] + 10
    assert metrics["two_towers/t2a_map_mean"] > metrics["random_init/t2a_map_mean"]
