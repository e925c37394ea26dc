"""Audio: loading policy for bad files, views, SpecAugment in the frontend, encoders, batches."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch

from multicl.data.audio_files import load_waveform, read_clips
from multicl.data.views_dataset import ViewsDataset
from multicl.encoders.audio import AudioCNNEncoder, HFAudioEncoder, LogMelFrontend, masked_time_pool
from multicl.modalities.audio import AudioAdapter, WaveViews, encode_waveforms


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
    assert batch["inputs"]["waveform"].shape[0] == 4 and batch["anchor_meta"]["group_id"][0] != batch["anchor_meta"]["group_id"][1]
    torch.manual_seed(0)
    encoder = adapter.build_encoder().eval()
    short = adapter.prepare_inputs([waves[0]])
    padded = adapter.prepare_inputs([waves[0], waves[1]])
    with torch.no_grad():
        alone, together = encoder(short)[0], encoder(padded)[0]
    # pooling stops at the clip's frames; padding only reaches its last frames through the conv context
    assert torch.nn.functional.cosine_similarity(alone, together, dim=0) > 0.9
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
