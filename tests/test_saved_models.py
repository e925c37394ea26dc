"""One saved-model format per modality: train briefly, save, load, encode raw input == the
end-of-training embeddings (1e-5); index + search over the loaded model; bad input errors."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from multicl import EmbeddingIndex, EmbeddingModel, ModelCard, build_objective
from multicl.modalities.batching import encode_in_length_order
from multicl.modalities.views_dataset import ViewsDataset
from multicl.train.config import TrainerConfig
from multicl.train.learner import ContrastiveLearner
from multicl.train.trainer import Trainer


def train(adapter, samples, out_dir, steps=3):
    torch.manual_seed(0)
    encoder = adapter.build_encoder()
    learner = ContrastiveLearner(encoder, build_objective("info_nce", temperature=0.1))
    cfg = TrainerConfig(out_dir=str(out_dir), max_steps=steps, batch_size=8, learning_rate=1e-3, seed=0, device="cpu",
                        progress_bar=False, tensorboard=False, log_every=1)
    Trainer(learner, ViewsDataset(samples, adapter, seed=0), adapter.collate, cfg).train()
    return learner.encoder


def unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def table_setup():
    from multicl.data.table_preprocessing import TablePreprocessor
    from multicl.modalities.tabular import TabularAdapter

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"bytes": rng.pareto(1.2, 40) * 100, "proto": rng.choice(["tcp", "udp", "icmp"], 40),
                          "port": rng.integers(0, 5, 40).astype(float), "label": rng.integers(0, 2, 40)})
    frame.loc[3, "bytes"] = np.nan
    pre = TablePreprocessor(exclude=["label"]).fit(frame)
    return frame, TabularAdapter(pre.transform(frame), pre, corruption=0.3, embed_dim=16, hidden_dims=(32,))


def waves(n=12, seed=0):
    rng = np.random.default_rng(seed)
    return [(0.3 * np.sin(2 * np.pi * (200 + 40 * i) * np.arange(800 + 97 * i) / 8000)).astype(np.float32)
            + 0.01 * rng.standard_normal(800 + 97 * i).astype(np.float32) for i in range(n)]


def series(n=12, seed=0, channels=2):
    rng = np.random.default_rng(seed)
    return [(np.cumsum(rng.standard_normal((30 + 5 * i, channels)), axis=0) * 3 + 10).astype(np.float32) for i in range(n)]


def test_table_model_round_trip_index_and_search(tmp_path):
    from multicl.modalities.tabular import encode_table

    frame, adapter = table_setup()
    encoder = train(adapter, list(range(40)), tmp_path / "run")
    trained = unit(encode_table(encoder, adapter.preprocessor.transform(frame)))
    EmbeddingModel.from_adapter(adapter, encoder).save(tmp_path / "model", card=ModelCard(recipe="test", metrics={"x": 1.0}))
    assert {"multicl.json", "model.safetensors", "preprocessing.json", "README.md"} <= {p.name for p in (tmp_path / "model").iterdir()}
    meta = json.loads((tmp_path / "model" / "multicl.json").read_text())
    assert meta["modality"] == "table" and meta["encoder"]["class"] == "TabularMLPEncoder" and meta["encoder"]["args"]["hidden_dims"] == [32]

    model = EmbeddingModel.load(tmp_path / "model", device="cpu")
    assert model.modality == "table" and model.embed_dim == 16
    np.testing.assert_allclose(model.encode(frame, batch_size=7), trained, atol=1e-5)
    frame.to_csv(tmp_path / "rows.csv", index=False)
    np.testing.assert_allclose(model.encode(str(tmp_path / "rows.csv")), trained, atol=1e-5)  # a CSV path reads the same
    index = model.index(frame, ids=[f"row{i}" for i in range(40)])
    ids, scores = index.search(frame.iloc[:5], k=3)
    assert ids.shape == scores.shape == (5, 3) and list(ids[:, 0]) == [f"row{i}" for i in range(5)]
    assert np.all(np.diff(scores, axis=1) <= 1e-6) and scores[0, 0] == pytest.approx(1.0, abs=1e-5)
    # bad input: strings to a table model, a frame missing a column
    with pytest.raises(TypeError, match="table model.*DataFrame"):
        model.encode(["some text"])
    with pytest.raises(KeyError, match="proto.*add the missing"):
        model.encode(frame.drop(columns=["proto"]))


def test_audio_model_round_trip_from_files_and_pairs(tmp_path):
    import soundfile as sf

    from multicl.modalities.audio import AudioAdapter, WaveViews, encode_waveforms

    clips = waves()
    adapter = AudioAdapter(clips, 8000, WaveViews(crop_seconds=0.1), embed_dim=16, cmvn="mean")
    encoder = train(adapter, list(range(12)), tmp_path / "run", steps=2)
    trained = unit(encode_waveforms(encoder, adapter, clips))
    EmbeddingModel.from_adapter(adapter, encoder).save(tmp_path / "model")
    model = EmbeddingModel.load(tmp_path / "model", device="cpu")
    meta = json.loads((tmp_path / "model" / "multicl.json").read_text())
    assert model.modality == "audio" and meta["input"]["sample_rate"] == 8000 and meta["encoder"]["args"]["cmvn"] == "mean"
    np.testing.assert_allclose(model.encode([(w, 8000) for w in clips], batch_size=5), trained, atol=1e-5)
    paths = []
    for i, w in enumerate(clips[:3]):
        sf.write(tmp_path / f"c{i}.wav", w, 8000, subtype="FLOAT")
        paths.append(str(tmp_path / f"c{i}.wav"))
    np.testing.assert_allclose(model.encode(paths), trained[:3], atol=1e-5)
    ids, _ = model.index([(w, 8000) for w in clips]).search(paths, k=1)
    assert ids[:, 0].tolist() == [0, 1, 2]
    (tmp_path / "bad.wav").write_bytes(b"RIFF\x00\x00not audio")
    with pytest.raises(ValueError, match=r"audio item 1: .*bad.wav.*readable"):
        model.encode([paths[0], str(tmp_path / "bad.wav")])
    with pytest.raises(TypeError, match=r"\(array, sample_rate\)"):
        model.encode([clips[0]])


@pytest.mark.parametrize("whiten_power", [0.0, 0.25])
def test_fused_audio_model_round_trip_keeps_the_fitted_statistics(tmp_path, whiten_power):
    from multicl.encoders.audio_fusion import AudioStatsFusionEncoder
    from multicl.modalities.audio import AudioAdapter, WaveViews, encode_waveforms

    clips = waves()
    adapter = AudioAdapter(clips, 8000, WaveViews(crop_seconds=0.1), embed_dim=16, cmvn="mean")
    encoder = train(adapter, list(range(12)), tmp_path / "run", steps=2)
    fused = AudioStatsFusionEncoder.wrap(encoder, "none", 0.7, whiten_power).eval().fit_statistics([adapter.prepare_inputs(clips)])
    trained = unit(encode_waveforms(fused, adapter, clips))
    EmbeddingModel.from_adapter(adapter, fused).save(tmp_path / "model")
    model = EmbeddingModel.load(tmp_path / "model", device="cpu")
    meta = json.loads((tmp_path / "model" / "multicl.json").read_text())
    assert meta["encoder"]["class"] == "AudioStatsFusionEncoder" and meta["encoder"]["args"]["weight"] == 0.7
    assert model.embed_dim == 16 + 80 and float(model.encoder.stats_std.min()) > 0  # mu / sigma travel in the weights
    assert meta["encoder"]["args"].get("whiten_power", 0.0) == whiten_power  # absent at 0: older models load unchanged
    np.testing.assert_allclose(model.encode([(w, 8000) for w in clips], batch_size=5), trained, atol=1e-5)


def test_series_model_round_trip(tmp_path):
    from multicl.modalities.sequence import SequenceAdapter

    data = series()
    adapter = SequenceAdapter(data, crop_ratio=0.8, embed_dim=16)
    encoder = train(adapter, adapter.samples, tmp_path / "run")
    trained = unit(encode_in_length_order(encoder, adapter.prepare_inputs, data, len))
    EmbeddingModel.from_adapter(adapter, encoder).save(tmp_path / "model")
    model = EmbeddingModel.load(tmp_path / "model", device="cpu")
    meta = json.loads((tmp_path / "model" / "multicl.json").read_text())
    assert model.modality == "series" and meta["input"]["channels"] == 2 and len(meta["input"]["normalisation"]["center"]) == 2
    np.testing.assert_allclose(model.encode(data, batch_size=4), trained, atol=1e-5)
    index = model.index(data)
    ids, _ = index.search(data[:4], k=2)
    assert ids[:, 0].tolist() == [0, 1, 2, 3]
    with pytest.raises(ValueError, match=r"series 0: expected shape \(T, 2\)"):
        model.encode([np.zeros((20, 3), np.float32)])
    with pytest.raises(ValueError, match="16-d vectors"):
        index.search(np.zeros((2, 8), np.float32), k=1)


def test_text_model_round_trip_loads_in_sentence_transformers(tiny_text_model, tmp_path):
    from sentence_transformers import SentenceTransformer

    from multicl.modalities.text import TextAdapter, TextSample

    adapter = TextAdapter.from_pretrained(tiny_text_model, max_length=16)
    texts = [f"sentence {i} about topic {i % 5} and colour {i % 3}" for i in range(16)]
    encoder = train(adapter, [TextSample(t) for t in texts], tmp_path / "run", steps=2)
    trained = EmbeddingModel(encoder, adapter.tokenizer, max_length=16, device="cpu").encode(texts)
    EmbeddingModel.from_adapter(adapter, encoder).save(tmp_path / "model")
    model = EmbeddingModel.load(tmp_path / "model", device="cpu")
    assert model.modality == "text" and model.max_length == 16
    np.testing.assert_allclose(model.encode(texts, batch_size=3), trained, atol=1e-5)
    st = SentenceTransformer(str(tmp_path / "model"), device="cpu")
    np.testing.assert_allclose(st.encode(texts, convert_to_numpy=True), trained, atol=1e-5)
    assert "text embedding model" in (tmp_path / "model" / "README.md").read_text()
    with pytest.raises(TypeError, match="text model"):
        model.encode(pd.DataFrame({"text": texts}))


def test_index_save_load_and_model_checks(tmp_path):
    from multicl.modalities.sequence import SequenceAdapter

    data = series()
    torch.manual_seed(0)
    adapter = SequenceAdapter(data, embed_dim=16)
    model = EmbeddingModel.from_adapter(adapter, adapter.build_encoder(), device="cpu")
    index = model.index(data, ids=list(range(100, 112)))
    index.save(tmp_path / "index")
    again = model.load_index(tmp_path / "index")
    for a, b in zip(index.search(data[:3], k=4), again.search(data[:3], k=4)):
        np.testing.assert_allclose(a, b, atol=1e-6)
    assert again.search(data[:1], k=1)[0][0, 0] == 100
    torch.manual_seed(1)
    other = EmbeddingModel.from_adapter(adapter, adapter.build_encoder(), device="cpu")
    with pytest.raises(ValueError, match="built by another model.*Rebuild it"):
        EmbeddingIndex.load(tmp_path / "index", model=other)
    without = EmbeddingIndex.load(tmp_path / "index")
    with pytest.raises(ValueError, match="no model to embed them"):
        without.search(data[:1], k=1)
    assert without.search(model.encode(data[:1]), k=1)[0][0, 0] == 100  # embeddings need no model
    # add: new ids grow it, a known id replaces its vector
    again.add(data[:2], ids=[200, 100])
    assert len(again) == 13


def test_auto_backend_moves_to_hnsw_past_the_crossover():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((300, 8)).astype(np.float32)
    index = EmbeddingIndex(8, backend="auto", exact_max_size=200)
    index.add(x[:150])
    assert index.kind == "exact"
    index.add(x[150:])
    assert index.kind == "hnsw" and len(index) == 300
    ids, scores = index.search(x[:20], k=5)
    assert (ids[:, 0] == np.arange(20)).mean() >= 0.95


def test_bad_model_folders(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "metrics.json").write_text("{}")
    (tmp_path / "run" / "model").mkdir()
    with pytest.raises(FileNotFoundError, match="not a saved model.*model/ subfolder"):
        EmbeddingModel.load(tmp_path / "run")
    (tmp_path / "run" / "model" / "multicl.json").write_text(json.dumps({"format": 2, "modality": "table", "encoder": {"class": "TabularMLPEncoder", "args": {}}}))
    with pytest.raises(FileNotFoundError, match="model.safetensors.*missing"):
        EmbeddingModel.load(tmp_path / "run" / "model")
