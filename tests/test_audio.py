"""Audio: loading policy for bad files, views, SpecAugment in the frontend, encoders, batches."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch

from multicl.data.audio_files import load_waveform, read_clips
from multicl.modalities.views_dataset import ViewsDataset
from multicl.encoders.audio import HFAudioEncoder, LogMelFrontend, masked_time_pool, warp_mel_axis
from multicl.modalities.audio import AudioAdapter, WaveViews, change_speed, encode_waveforms


def tone(freq: float, seconds: float = 0.5, rate: int = 8000) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_import_torchaudio_with_transformers():
    """The pair DEVELOPERS.md warns about: torchaudio must load beside transformers in this env."""
    import torchaudio
    import transformers

    assert torchaudio.__version__.startswith("2.11") and transformers.__version__.startswith("5.")
    assert torchaudio.functional.resample(torch.zeros(1, 160), 16000, 8000).shape == (1, 80)


def test_folder_reading_with_bad_files_skipped_and_counted(tmp_path):
    sf.write(tmp_path / "3_alice_0.wav", tone(440), 8000)
    sf.write(tmp_path / "4_bob_7.wav", np.stack([tone(300), tone(300)], 1), 16000)  # stereo, other rate
    (tmp_path / "5_carol_1.wav").write_bytes(b"RIFF not really a wav")
    sf.write(tmp_path / "6_dave_2.wav", np.zeros((0,), np.float32), 8000)
    nan = tone(200)
    nan[10] = np.nan
    sf.write(tmp_path / "7_erin_3.wav", nan, 8000, subtype="FLOAT")
    clips = read_clips(tmp_path, sample_rate=8000)
    assert clips.labels == ["3", "4"] and clips.groups == ["alice", "bob"] and clips.takes == [0, 7]
    assert len(clips.waveforms[1]) == 2000  # 4000 samples written at 16 kHz = 0.25 s -> 2000 at 8 kHz, mono
    assert sum(map(len, clips.skipped.values())) == 3
    assert any("zero-length" in k for k in clips.skipped) and any("NaN" in k for k in clips.skipped)


def test_truncated_file_and_empty_folder_errors(tmp_path):
    sf.write(tmp_path / "a.wav", tone(440), 8000)
    data = (tmp_path / "a.wav").read_bytes()
    (tmp_path / "a.wav").write_bytes(data[:30])
    with pytest.raises(ValueError, match="not a readable audio file"):
        load_waveform(tmp_path / "a.wav", 8000)
    with pytest.raises(ValueError, match="none of the 1 files"):
        read_clips(tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="no audio files"):
        read_clips(empty)


def test_csv_listing(tmp_path):
    sf.write(tmp_path / "x.wav", tone(440), 8000)
    (tmp_path / "list.csv").write_text("path,label,group\nx.wav,yes,spk1\n")
    clips = read_clips(tmp_path / "list.csv")
    assert clips.labels == ["yes"] and clips.groups == ["spk1"]


def test_views_are_seeded_and_respect_the_snr():
    waves = [tone(300 + 100 * i, seconds=0.3 + 0.2 * i) for i in range(4)]
    adapter = AudioAdapter(waves, 8000, WaveViews(crop_seconds=0.5, gain_db=None, snr_db=(20.0, 20.0), shift_seconds=0.0))
    view = adapter._view(0, np.random.default_rng(0))
    assert view.shape == (4000,)
    clean = np.zeros(4000, np.float32)
    # with the same draws and no noise, the signal part is the padded clip; the rest is noise
    no_noise = AudioAdapter(waves, 8000, WaveViews(crop_seconds=0.5, gain_db=None, snr_db=None, shift_seconds=0.0))
    clean = no_noise._view(0, np.random.default_rng(0))
    noise = view - clean
    snr = 10 * np.log10(np.mean(clean**2) / np.mean(noise**2))
    assert snr == pytest.approx(20.0, abs=0.5)
    dataset = ViewsDataset(list(range(4)), adapter, seed=1)
    assert np.array_equal(dataset[2]["view_a"], dataset[2]["view_a"])


def test_collate_pads_and_the_cnn_masks_padding():
    waves = [tone(300, 0.2), tone(500, 0.7)]
    adapter = AudioAdapter(waves, 8000, WaveViews(crop_seconds=None), labels=[0, 1], speakers=["a", "b"], group_by="speaker",
                           specaugment=(0, 0), embed_dim=16)
    batch = adapter.collate([ViewsDataset(list(range(2)), adapter)[i] for i in range(2)])
    assert batch.anchors.inputs["waveform"].shape[0] == 2 and batch.positives.inputs.num_rows == 2
    assert batch.anchors.meta["group_id"][0] != batch.anchors.meta["group_id"][1]
    torch.manual_seed(0)
    encoder = adapter.build_encoder().eval()
    short = adapter.prepare_inputs([waves[0]])
    padded = adapter.prepare_inputs([waves[0], waves[1]])
    with torch.no_grad():
        alone, together = encoder(short)[0], encoder(padded)[0]
    # frames past the clip are zeroed after every block: alone or padded, the same embedding
    torch.testing.assert_close(alone, together, atol=1e-5, rtol=1e-4)
    emb = encode_waveforms(encoder, adapter, waves)
    assert emb.shape == (2, 16) and np.isfinite(emb).all()


def test_specaugment_only_in_training_and_per_row():
    frontend = LogMelFrontend(8000, 40, freq_mask=10, time_mask=10)
    wave = torch.from_numpy(np.stack([tone(440, 1.0)] * 2))
    torch.manual_seed(0)
    frontend.train()
    masked = frontend(wave)
    assert not torch.equal(masked[0], masked[1])  # independent masks for the two rows
    frontend.eval()
    clean = frontend(wave)
    assert torch.equal(clean[0], clean[1])


def test_masked_time_pool_ignores_padding():
    features = torch.tensor([[[1.0, 3.0, 100.0]]])
    out = masked_time_pool(features, torch.tensor([2]))
    assert out.tolist() == [[2.0, 3.0]]


def test_tiny_random_wav2vec2_encoder():
    from transformers import Wav2Vec2Config, Wav2Vec2Model

    config = Wav2Vec2Config(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                            conv_dim=(16, 16), conv_kernel=(10, 3), conv_stride=(5, 2), num_conv_pos_embeddings=16,
                            num_conv_pos_embedding_groups=2)
    torch.manual_seed(0)
    encoder = HFAudioEncoder(Wav2Vec2Model(config), embed_dim=8)
    adapter = AudioAdapter([tone(440, 0.1, 16000), tone(220, 0.2, 16000)], 16000)
    inputs = adapter.prepare_inputs(adapter.waveforms)
    z = encoder(inputs)
    assert z.shape == (2, 8) and torch.isfinite(z).all()
    z[0].sum().backward()
    assert encoder.model.feature_projection.projection.weight.grad is not None


def test_cmvn_zero_mean_per_band_over_valid_frames_and_padding_zeroed():
    rng = np.random.default_rng(0)
    # word-like clips: a fade in and out over the clip, a little noise (no band is flat)
    waves = [(w * np.hanning(len(w)) + 1e-3 * rng.standard_normal(len(w))).astype(np.float32) for w in (tone(300, 0.3) * 0.1, tone(700, 0.6) * 2.0)]
    adapter = AudioAdapter(waves, 8000, specaugment=(0, 0))
    inputs = adapter.prepare_inputs(waves)
    for mode in ("mean", "meanvar"):
        frontend = LogMelFrontend(8000, 40, cmvn=mode).eval()
        spec = frontend(inputs["waveform"], inputs["lengths"])
        frames = frontend.frames(inputs["lengths"]).tolist()
        short = spec[0, :, : frames[0]]
        inside = (int(inputs["lengths"][0]) - frontend.n_fft // 2) // frontend.hop + 1  # frames not reaching past the end
        assert short[:, :inside].mean(1).abs().max() < 1e-4  # zero mean per band over the clip's own frames
        assert torch.all(spec[0, :, frames[0]:] == 0)  # padding frames do not leak in, and are zeroed
        alone = frontend(torch.from_numpy(waves[0])[None], inputs["lengths"][:1])[0]
        # same as the clip alone, but for the last frames, whose windows reach into the padding
        assert torch.allclose(alone[:, :inside], short[:, :inside], atol=1e-4)
        if mode == "meanvar":
            assert torch.allclose(short[:, :inside].std(1, unbiased=False), torch.ones(40), atol=1e-2)
    # a constant gain is a per-band offset in log-mel: CMVN removes it
    frontend = LogMelFrontend(8000, 40, cmvn="mean").eval()
    noise = torch.from_numpy((0.5 * rng.standard_normal(4000)).astype(np.float32))[None]  # energy in every band (above log's floor)
    assert torch.allclose(frontend(noise), frontend(noise * 0.25), atol=1e-3)
    with pytest.raises(ValueError, match="cmvn"):
        LogMelFrontend(cmvn="global")


def test_mel_warp_only_in_training_and_moves_energy_up_or_down():
    spec = torch.zeros(2, 40, 3)
    spec[:, 10] = 1.0
    warped = warp_mel_axis(spec, torch.tensor([1.2, 0.8]))
    peaks = warped[:, :, 0].argmax(1).tolist()
    assert peaks[0] == 12 and peaks[1] in (8, 9)  # f -> f * factor
    assert torch.equal(warp_mel_axis(spec, torch.ones(2)), spec)
    frontend = LogMelFrontend(8000, 40, mel_warp=0.15)
    wave = torch.from_numpy(np.stack([tone(1000, 0.5)] * 2))
    torch.manual_seed(0)
    train = frontend.train()(wave)
    assert not torch.allclose(train[0], train[1])  # a factor per row
    clean = frontend.eval()(wave)
    assert torch.equal(clean[0], clean[1])


def test_speed_perturbation_changes_length_and_pitch_by_the_factor():
    wave = tone(500, 1.0)
    fast = change_speed(wave, 1.25)
    assert len(fast) == 6400  # 8000 / 1.25
    spectrum = np.abs(np.fft.rfft(fast))
    assert np.fft.rfftfreq(len(fast), 1 / 8000)[spectrum.argmax()] == pytest.approx(625, abs=5)  # 500 Hz x 1.25
    assert len(change_speed(wave, 0.8)) == 10000
    adapter = AudioAdapter([wave], 8000, WaveViews(speed=(0.5, 0.5), crop_seconds=None, shift_seconds=0.0, gain_db=None, snr_db=None))
    assert len(adapter._view(0, np.random.default_rng(0))) == 16000


def test_recipe_frontend_options_reach_the_encoder():
    from multicl.recipes.audio_contrastive import Config, build_encoder, make_adapter
    from multicl.data.audio_files import AudioClips

    cfg = Config(cmvn="meanvar", mel_warp=0.1, speed=(0.9, 1.1), channels=(4, 4), embed_dim=8)
    clips = AudioClips(waveforms=[tone(300), tone(400)], labels=["0", "1"], groups=["a", "b"], takes=[0, 0], paths=["x", "y"], sample_rate=8000)
    adapter = make_adapter(clips, None, cfg, WaveViews(speed=(0.9, 1.1)), (0, 0))
    encoder = build_encoder(adapter, cfg)
    assert encoder.frontend.cmvn == "meanvar" and encoder.frontend.mel_warp == 0.1
    assert encode_waveforms(encoder, adapter, adapter.waveforms).shape == (2, 8)


@pytest.mark.slow
def test_recipe_end_to_end_tiny_with_the_new_ablations(tmp_path):
    from multicl.recipes.audio_contrastive import cli

    rng = np.random.default_rng(0)
    data = tmp_path / "wavs"
    data.mkdir()
    for label, freq in ((0, 300.0), (1, 900.0)):
        for speaker, scale in (("a", 1.0), ("b", 1.2)):
            for take in range(6):
                wave = tone(freq * scale, 0.3 + 0.02 * take) + 0.01 * rng.standard_normal(int((0.3 + 0.02 * take) * 8000)).astype(np.float32)
                sf.write(data / f"{label}_{speaker}_{take}.wav", wave, 8000)
    metrics = cli(["--data-dir", str(data), "--test-speaker", "b", "--out-dir", str(tmp_path / "out"), "--device", "cpu", "--max-steps", "2",
                   "--batch-size", "8", "--supervised-steps", "0", "--channels", "4", "4", "--embed-dim", "8", "--ablations",
                   "--cmvn", "meanvar", "--speed", "0.9", "1.1", "--mel-warp", "0.1", "--knn-k", "3"])
    for key in ("test_knn_accuracy", "test_logmel_stats_knn_accuracy", "test_logmel_cmvn_stats_knn_accuracy", "test_no_cmvn_knn_accuracy",
                "test_no_speed_warp_knn_accuracy"):
        assert 0.0 <= metrics[key] <= 100.0


# -- user files (issue 14) --------------------------------------------------------------------------
def test_short_clip_is_padded_named_and_encodes(tmp_path, caplog):
    from multicl.encoders.audio import AudioCNNEncoder

    sf.write(tmp_path / "1_amy_0.wav", tone(440, seconds=0.5), 8000)
    sf.write(tmp_path / "2_amy_1.wav", tone(440, seconds=0.01), 8000)  # 80 samples: under the 25 ms window
    with caplog.at_level("WARNING"):
        clips = read_clips(tmp_path, 8000)
    assert len(clips.waveforms[1]) == 200 and clips.padded == [str(tmp_path / "2_amy_1.wav")]
    assert "2_amy_1.wav" in caplog.text and clips.counts("train")["train_clips_padded"] == 1.0
    encoder = AudioCNNEncoder(8000, 16, 40, (4, 4)).eval()
    with torch.no_grad():
        z = encoder({"waveform": torch.from_numpy(clips.waveforms[1])[None], "lengths": torch.tensor([200])})
    assert torch.isfinite(z).all()


def test_missing_listed_file_is_reported_missing_and_every_skipped_file_named(tmp_path, caplog):
    sf.write(tmp_path / "x.wav", tone(440), 8000)
    (tmp_path / "bad.wav").write_bytes(b"RIFF not really a wav")
    (tmp_path / "list.csv").write_text("path,label\nx.wav,yes\nnot_there.wav,no\nbad.wav,no\n")
    with caplog.at_level("WARNING"):
        clips = read_clips(tmp_path / "list.csv")
    assert clips.skipped["missing"] == [str(tmp_path / "not_there.wav")]
    assert "not_there.wav" in caplog.text and "bad.wav" in caplog.text and "(missing)" in caplog.text
    counts = clips.counts("train")
    assert counts["train_files_skipped"] == 2 and counts["train_files_skipped_missing"] == 1


def test_csv_listing_errors_name_file_and_line(tmp_path):
    from multicl.errors import UserInputError

    sf.write(tmp_path / "x.wav", tone(440), 8000)
    (tmp_path / "list.csv").write_text("path,label\n\nx.wav,yes\nx.wav,\n")
    with pytest.raises(UserInputError, match=r"list.csv line 4: expected path,label"):
        read_clips(tmp_path / "list.csv")
    (tmp_path / "latin.csv").write_bytes("path,label\nx.wav,caf\xe9\n".encode("latin-1"))
    with pytest.raises(UserInputError, match="not valid UTF-8"):
        read_clips(tmp_path / "latin.csv")


# -- any folder, class folders, unlabelled pre-training (issue 14) -------------------------------------
def _class_folders(root, classes=("dog", "cat", "bird"), per_class=5):
    for c, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            sf.write(root / name / f"rec{i:02d}.wav", tone(300 + 200 * c + 10 * i, 0.2), 8000)
    return root


def test_class_folders_get_a_seeded_per_class_split(tmp_path):
    from multicl.recipes.audio_contrastive import Config, load_data

    root = _class_folders(tmp_path / "classes")
    sf.write(root / "loose_take.wav", tone(1000, 0.2), 8000)  # directly in the folder: unlabelled, pre-training only
    cfg = Config(data_dir=str(root), batch_size=2)
    train, test, pretrain = load_data(cfg)
    assert sorted(set(test.labels)) == sorted(set(train.labels)) == ["bird", "cat", "dog"]
    assert len(test) == 3 and len(train) == 12 and None not in train.labels + test.labels  # round(5 * 0.2) = 1 per class
    assert len(pretrain) == 13 and str(root / "loose_take.wav") in pretrain.paths and not set(test.paths) & set(pretrain.paths)
    again, test_again, _ = load_data(cfg)
    assert test_again.paths == test.paths  # seeded
    other = load_data(Config(data_dir=str(root), batch_size=2, seed=1, test_fraction=0.4))[1]
    assert len(other) == 6 and other.paths != test.paths


def test_fsdd_folder_keeps_the_split_by_take(tmp_path):
    from multicl.recipes.audio_contrastive import Config, load_data

    for take in range(7):
        for label in ("1", "2"):
            sf.write(tmp_path / f"{label}_amy_{take}.wav", tone(400, 0.1), 8000)
    train, test, pretrain = load_data(Config(data_dir=str(tmp_path), batch_size=2))
    assert sorted(set(test.takes)) == [0, 1, 2, 3, 4] and sorted(set(train.takes)) == [5, 6] and pretrain is train


def test_any_folder_of_audio_pretrains_and_saves_a_model(tmp_path, capsys):
    from multicl import EmbeddingModel
    from multicl.recipes.audio_contrastive import cli

    data = tmp_path / "my recordings"
    data.mkdir()
    for i in range(6):
        sf.write(data / f"meeting-{i}.flac", tone(200 + 50 * i, 0.15), 8000)
    out = tmp_path / "run"
    metrics = cli(["--data-dir", str(data), "--out-dir", str(out), "--device", "cpu", "--max-steps", "1", "--batch-size", "4",
                   "--channels", "4", "4", "--embed-dim", "8", "--supervised-steps", "0"])
    assert metrics["train_clips"] == 6 and not any(k.startswith("test_") for k in metrics)
    assert "pre-training only (6 clips" in capsys.readouterr().out
    model = EmbeddingModel.load(out / "model", device="cpu")
    # the default saved model is the CNN (8) joined with the 40 bands' log-mel mean and std (80)
    assert model.modality == "audio" and model.encode([str(data / "meeting-0.flac")]).shape == (1, 8 + 80)


def test_unlabelled_data_dir_with_a_labelled_test_dir_advice_works(tmp_path):
    import shlex

    from multicl.errors import UserInputError
    from multicl.recipes.audio_contrastive import Config, check_args, load_data
    from multicl.recipes._cli import parser_for

    unlabelled = tmp_path / "unlabelled"
    unlabelled.mkdir()
    for i in range(4):
        sf.write(unlabelled / f"u{i}.wav", tone(500 + 10 * i, 0.1), 8000)
    labelled = _class_folders(tmp_path / "labelled")
    with pytest.raises(UserInputError, match="no labelled clips for the probes") as err:
        load_data(Config(data_dir=str(unlabelled), test_dir=str(labelled), batch_size=2))
    fix = shlex.split(str(err.value).split("instead: ")[1])  # --pretrain-dir X --data-dir Y, followed
    ns = parser_for(Config, "").parse_args([*fix, "--batch-size", "2"])
    cfg = Config(pretrain_dir=ns.pretrain_dir, data_dir=ns.data_dir, batch_size=2)
    check_args(cfg)
    train, test, pretrain = load_data(cfg)
    assert len(test) == 3 and len(pretrain) == len(train) + 4


def test_split_advice_works_when_followed(tmp_path):
    from multicl.errors import UserInputError
    from multicl.recipes.audio_contrastive import Config, load_data

    root = _class_folders(tmp_path / "classes")
    with pytest.raises(UserInputError, match=r"not named \{label\}_\{speaker\}_\{take\} \(no take\); use --split random"):
        load_data(Config(data_dir=str(root), split="take", batch_size=2))
    assert len(load_data(Config(data_dir=str(root), split="random", batch_size=2))[1]) == 3
    for take in range(3):
        sf.write(tmp_path / f"1_amy_{take}.wav", tone(400, 0.1), 8000)
        sf.write(tmp_path / f"2_amy_{take}.wav", tone(600, 0.1), 8000)
    fsdd = tmp_path
    for p in root.rglob("*.wav"):
        p.unlink()
    with pytest.raises(UserInputError, match=r"leaves 0 training and 6 test clips; use --split random"):
        load_data(Config(data_dir=str(fsdd), batch_size=2))
    train, test, _ = load_data(Config(data_dir=str(fsdd), split="random", test_fraction=0.34, batch_size=2))
    assert len(test) == 2 and set(test.labels) == {"1", "2"}
    loose = tmp_path / "loose"
    loose.mkdir()
    for i in range(3):
        sf.write(loose / f"clip{i}.wav", tone(400, 0.1), 8000)
    with pytest.raises(UserInputError, match="no labelled clips.*pre-train only with --split none"):
        load_data(Config(data_dir=str(loose), split="random", batch_size=2))
    train, test, pretrain = load_data(Config(data_dir=str(loose), split="none", batch_size=2))
    assert test is None and len(pretrain) == 3


# -- DINO / SwAV on multi-crop (issue 18) ------------------------------------------------------------
def _tiny_fsdd(root, rng):
    root.mkdir()
    for label, freq in ((0, 300.0), (1, 900.0)):
        for speaker, scale in (("a", 1.0), ("b", 1.2), ("c", 0.9)):
            for take in range(4):
                n = int((0.3 + 0.02 * take) * 8000)
                wave = 0.3 * np.sin(2 * np.pi * freq * scale * np.arange(n) / 8000) + 0.01 * rng.standard_normal(n)
                sf.write(root / f"{label}_{speaker}_{take}.wav", wave.astype(np.float32), 8000)
    return root


def test_batch_norm_dino_head_normalises_input_and_hidden_layers():
    from multicl.encoders.dino_head import DINOHead

    head = DINOHead(8, 16, hidden_dim=12, bottleneck_dim=4, batch_norm=True)
    norms = [m for m in head.mlp if isinstance(m, torch.nn.BatchNorm1d)]
    assert [n.num_features for n in norms] == [8, 12, 12] and head.out_dim == 16
    out = head(torch.randn(5, 8) + 100.0)  # a large shared component is removed by the input norm
    assert out.shape == (5, 16) and out.abs().max() <= 1.0 + 1e-5  # cosine logits


@pytest.mark.slow
@pytest.mark.parametrize("method", ["dino", "swav", "infonce", "barlow_twins"])  # every --method but the default (vicreg, tested above)
def test_recipe_methods_end_to_end_and_model_loads(tmp_path, method):
    from multicl import EmbeddingModel
    from multicl.recipes.audio_contrastive import cli

    data = _tiny_fsdd(tmp_path / "wavs", np.random.default_rng(0))
    metrics = cli(["--data-dir", str(data), "--test-speaker", "b", "--drop-speakers", "c", "--out-dir", str(tmp_path / "out"),
                   "--device", "cpu", "--max-steps", "2", "--batch-size", "4", "--channels", "4", "4", "--embed-dim", "8",
                   "--knn-k", "1", "--method", method, "--local-crops", "2", "--global-share", "0.7", "1.0", "--local-share", "0.3", "0.5",
                   "--dino-out-dim", "16", "--dino-momentum", "0.99", "--teacher-temperature", "0.04", "0.05", "--keep", "student"])
    assert metrics["train_clips"] == 8 and metrics["test_clips"] == 8  # speaker c dropped from everything
    for key in ("test_knn_accuracy", "test_linear_accuracy", "test_logmel_stats_linear_accuracy", "test_random_init_knn_accuracy"):
        assert 0.0 <= metrics[key] <= 100.0
    assert "test_supcon_knn_accuracy" not in metrics  # the slow rows are off by default
    if method == "dino":
        assert metrics["test_cnn_knn_accuracy"] == metrics["test_student_knn_accuracy"]  # --keep student (the CNN of the fused model)
        assert "test_teacher_knn_accuracy" in metrics
    model = EmbeddingModel.load(tmp_path / "out" / "model")
    assert model.modality == "audio"


def test_recipe_rejects_bad_multi_crop_flags(tmp_path):
    from multicl.errors import UserInputError
    from multicl.recipes.audio_contrastive import Config, check_args

    with pytest.raises(UserInputError, match="global-share"):
        check_args(Config(global_share=(0.5,)))
    with pytest.raises(UserInputError, match="local_share"):
        check_args(Config(local_share=(0.0, 0.5)))
    with pytest.raises(UserInputError, match="drop-speakers"):
        check_args(Config(test_speaker="a", drop_speakers=("a",)))


# -- CNN + log-mel statistics fusion (issue 18) ------------------------------------------------------
def test_fusion_statistics_match_the_recipe_baseline_and_ignore_padding():
    from multicl.encoders.audio import AudioCNNEncoder
    from multicl.encoders.audio_fusion import AudioStatsFusionEncoder
    from multicl.recipes.audio_contrastive import logmel_stats

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    waves = [rng.standard_normal(n).astype(np.float32) for n in (800, 3000, 4100)]
    adapter = AudioAdapter(waves, 8000, embed_dim=8)
    for cmvn, baseline in (("none", "none"), ("mean", "mean")):
        fused = AudioStatsFusionEncoder.wrap(AudioCNNEncoder(8000, 8, 40, (4, 4), cmvn="mean").eval(), cmvn, 0.7).eval()
        batch = adapter.prepare_inputs(waves)
        np.testing.assert_allclose(fused.statistics(batch).numpy(), logmel_stats(adapter, waves, baseline), atol=1e-4)
        fused.fit_statistics([batch])
        together = fused(batch)
        alone = torch.cat([fused(adapter.prepare_inputs([w])) for w in waves])
        torch.testing.assert_close(together, alone, atol=1e-5, rtol=0)


def test_fusion_cosine_is_the_weighted_mean_of_the_two_cosines():
    from multicl.encoders.audio import AudioCNNEncoder
    from multicl.encoders.audio_fusion import AudioStatsFusionEncoder

    torch.manual_seed(0)
    rng = np.random.default_rng(1)
    waves = [rng.standard_normal(2000 + 300 * i).astype(np.float32) * (1 + i) for i in range(6)]
    adapter = AudioAdapter(waves, 8000, embed_dim=8)
    fused = AudioStatsFusionEncoder.wrap(AudioCNNEncoder(8000, 8, 40, (4, 4)).eval(), "none", 0.5).eval()
    batch = adapter.prepare_inputs(waves)
    fused.fit_statistics([batch])
    with torch.no_grad():
        z = torch.nn.functional.normalize(fused(batch), dim=-1)
        cnn = torch.nn.functional.normalize(fused.cnn(batch), dim=-1)
        stats = fused.statistics(batch)
        scaled = torch.nn.functional.normalize((stats - stats.mean(0)) / stats.std(0, unbiased=False), dim=-1)
    assert z.shape == (6, 8 + 80) and fused.embed_dim == 88
    torch.testing.assert_close(z @ z.T, (cnn @ cnn.T + 0.25 * scaled @ scaled.T) / 1.25, atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="weight must be positive"):
        AudioStatsFusionEncoder(fused.arguments["cnn"], "none", 0.0)



def test_whitened_fusion_is_the_joined_vector_whitened_on_the_fit_clips():
    from multicl.encoders.audio import AudioCNNEncoder
    from multicl.encoders.audio_fusion import AudioStatsFusionEncoder
    from multicl.utils.whitening import fit_whitening

    torch.manual_seed(0)
    rng = np.random.default_rng(2)
    waves = [rng.standard_normal(2000 + 150 * i).astype(np.float32) * (1 + i % 3) for i in range(12)]
    adapter = AudioAdapter(waves, 8000, embed_dim=8)
    fused = AudioStatsFusionEncoder.wrap(AudioCNNEncoder(8000, 8, 40, (4, 4)).eval(), "none", 0.25, whiten_power=0.25).eval()
    batch = adapter.prepare_inputs(waves)
    fused.fit_statistics([batch])
    with torch.no_grad():
        joined = fused.joined(batch).double().numpy()
        out = fused(batch).double().numpy()
    np.testing.assert_allclose(out, fit_whitening(joined, power=0.25).apply(joined), atol=1e-4)
    assert "whiten_power" not in AudioStatsFusionEncoder(fused.arguments["cnn"]).arguments  # none by default, as saved before
    with pytest.raises(ValueError, match="whiten_power"):
        AudioStatsFusionEncoder(fused.arguments["cnn"], whiten_power=0.7)


@pytest.mark.slow
def test_recipe_fused_model_saves_loads_and_reports_both_rows(tmp_path):
    from multicl import EmbeddingModel
    from multicl.recipes.audio_contrastive import cli

    data = _tiny_fsdd(tmp_path / "wavs", np.random.default_rng(0))
    metrics = cli(["--data-dir", str(data), "--test-speaker", "b", "--out-dir", str(tmp_path / "out"), "--device", "cpu",
                   "--max-steps", "2", "--batch-size", "4", "--channels", "4", "4", "--embed-dim", "8", "--knn-k", "1",
                   "--fuse-stats", "plain", "--fuse-weight", "0.7"])
    for key in ("test_knn_accuracy", "test_linear_accuracy", "test_cnn_knn_accuracy", "test_cnn_linear_accuracy"):
        assert 0.0 <= metrics[key] <= 100.0
    model = EmbeddingModel.load(tmp_path / "out" / "model")
    assert model.modality == "audio" and model.embed_dim == 8 + 80
    clips = sorted(data.glob("*_b_*.wav"))
    emb = model.encode([str(p) for p in clips])
    assert emb.shape == (len(clips), 88) and np.allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
