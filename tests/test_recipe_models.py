"""Each recipe saves through the one model format: load ``out/model``, encode new raw data, index, search."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from multicl import EmbeddingModel

TS_HEADER = "@problemName Toy\n@timeStamps false\n@missing false\n@univariate false\n@dimensions 2\n@equalLength false\n@classLabel true up down\n@data\n"


def write_ts(path, rng, n):
    lines = []
    for i in range(n):
        label = "up" if i % 2 else "down"
        t = np.arange(24 + i % 5)
        dims = [np.sin(t / 3 + i) + (t / 10 if label == "up" else -t / 10), np.cos(t / 4) + 0.1 * rng.standard_normal(len(t))]
        lines.append(":".join(",".join(f"{v:.4f}" for v in d) for d in dims) + f":{label}")
    path.write_text(TS_HEADER + "\n".join(lines) + "\n")


@pytest.mark.slow
@pytest.mark.parametrize("method", ["info_nce", "simsiam"])
def test_security_recipe_model_loads_encodes_and_searches(method, tmp_path):
    from multicl.recipes.security_threat import Config, main

    rng = np.random.default_rng(0)

    def table(n):
        return pd.DataFrame({"bytes": rng.pareto(1.2, n) * 100, "proto": rng.choice(["tcp", "udp"], n), "flag": rng.choice(["SF", "S0", "REJ"], n),
                             "label": rng.choice(["normal", "dos", "probe"], n, p=[0.6, 0.3, 0.1])})

    train = table(200)
    train.to_csv(tmp_path / "train.csv", index=False)
    new = table(30)
    new.to_csv(tmp_path / "test.csv", index=False)
    metrics = main(Config(train_file=str(tmp_path / "train.csv"), test_file=str(tmp_path / "test.csv"), out_dir=str(tmp_path / "out"), device="cpu",
                max_steps=4, batch_size=32, label_fractions=(), supervised_steps=2, finetune_steps=0, knn_k=3, anomaly_k=3, embed_dim=8,
                method=method))
    model = EmbeddingModel.load(tmp_path / "out" / "model")
    meta = json.loads((tmp_path / "out" / "model" / "multicl.json").read_text())
    # the default --probe-features concat saves [unit(embedding), unit(raw features)]: 8 + numerics + one-hot widths
    inner = meta["encoder"]["args"]["encoder_args"]
    assert model.modality == "table" and meta["encoder"]["class"] == "TableRawFusionEncoder"
    assert inner["embed_dim"] == 8 and model.embed_dim == 8 + inner["numeric_width"] + sum(inner["cardinalities"])
    assert json.loads((tmp_path / "out" / "config.json").read_text())["method"] == method
    emb = model.encode(new)
    assert emb.shape == (30, model.embed_dim)
    ids, scores = model.index(tmp_path / "test.csv").search(new.iloc[:3], k=2)
    assert ids[:, 0].tolist() == [0, 1, 2] or np.allclose(scores[:, 0], 1.0, atol=1e-5)  # duplicates may tie
    card = (tmp_path / "out" / "model" / "README.md").read_text()
    assert "security_threat" in card and "train_file (content)" in card
    assert "## Training environment" in card and "| torch_threads |" in card  # what repeating the run needs
    # step 5's test_anomaly_* is the saved model's space: cosine 3-NN distance to the normal training rows it encodes;
    # test_whitened_anomaly_* the same in that space whitened by the saved anomaly_whitening.npz
    from multicl.eval.anomaly import detection_scores, knn_anomaly_scores
    from multicl.utils.whitening import Whitening, fit_whitening

    normal = (train["label"] == "normal").to_numpy()
    is_attack = new["label"] != "normal"
    distance = knn_anomaly_scores(model.encode(train[normal]), emb, 3)
    expected = detection_scores(distance, is_attack, prefix="test_anomaly")
    assert metrics["test_anomaly_auroc"] == pytest.approx(expected["test_anomaly_auroc"], abs=1e-6)
    whitening = Whitening.load(tmp_path / "out" / "anomaly_whitening.npz")
    saved_train = model.encode(train, normalize=False)
    np.testing.assert_allclose(whitening.mean, fit_whitening(saved_train).mean, atol=1e-5)  # fitted on every training row
    white = [whitening.apply(x).astype(np.float32) for x in (saved_train[normal], model.encode(new, normalize=False))]
    expected = detection_scores(knn_anomaly_scores(*white, 3), is_attack, prefix="test_whitened_anomaly")
    assert metrics["test_whitened_anomaly_auroc"] == pytest.approx(expected["test_whitened_anomaly_auroc"], abs=1e-4)
    assert {"test_pretrained_anomaly_auroc", "test_raw_anomaly_auroc"} <= set(metrics)


def test_sequence_recipe_model_loads_encodes_and_searches(tmp_path):
    from multicl.recipes.sequence_contrastive import Config, main

    rng = np.random.default_rng(0)
    write_ts(tmp_path / "Toy_TRAIN.ts", rng, 12)
    write_ts(tmp_path / "Toy_TEST.ts", rng, 6)
    main(Config(train_file=str(tmp_path / "Toy_TRAIN.ts"), out_dir=str(tmp_path / "out"), device="cpu", max_steps=2, batch_size=8,
                embed_dim=8, knn_k=3, ts2vec_steps=2, ts2vec_dims=16, ts2vec_hidden=8, ts2vec_depth=2))
    model = EmbeddingModel.load(tmp_path / "out" / "model")
    meta = json.loads((tmp_path / "out" / "model" / "multicl.json").read_text())
    assert model.modality == "series" and meta["input"]["channels"] == 2
    new = [np.c_[np.sin(np.arange(30) / 3), np.cos(np.arange(30) / 4)].astype(np.float32) * s for s in (1.0, 2.0, 3.0)]
    ids, _ = model.index(new).search(new, k=1)
    assert ids[:, 0].tolist() == [0, 1, 2]


def test_sequence_recipe_reads_a_ucr_tsv_training_file_and_finds_the_test_file_beside_it(tmp_path):
    from multicl.recipes.sequence_contrastive import Config, main

    rng = np.random.default_rng(0)
    rows = [(i % 2, np.sin(np.arange(20 + i % 3) / (2 + i % 2)) + 0.05 * rng.standard_normal(20 + i % 3)) for i in range(16)]
    width = max(len(v) for _, v in rows)
    (tmp_path / "U_TRAIN.tsv").write_text("".join(f"{y}\t" + "\t".join([f"{x:.4f}" for x in v] + ["NaN"] * (width - len(v))) + "\n"
                                                  for y, v in rows[:10]))
    (tmp_path / "U_TEST.arff").write_text("@relation U\n" + "".join(f"@attribute t{i} numeric\n" for i in range(width))
                                          + "@attribute c {0,1}\n@data\n"
                                          + "".join(",".join([f"{x:.4f}" for x in v] + ["?"] * (width - len(v))) + f",{y}\n" for y, v in rows[10:]))
    metrics = main(Config(train_file=str(tmp_path / "U_TRAIN.tsv"), out_dir=str(tmp_path / "out"), device="cpu", knn_k=3, ts2vec_steps=2,
                          ts2vec_dims=16, ts2vec_hidden=8, ts2vec_depth=2, ts2vec_batch_size=4, dtw_band=-1, resampled_join=False))
    assert metrics["train_series"] == 10 and metrics["test_series"] == 6
    assert 0 <= metrics["test_ts2vec_knn_accuracy"] <= 100


def test_sequence_recipe_saves_ts2vec_standardised_by_the_training_series(tmp_path):
    """The default saved space: TS2Vec's output z-scored with the training series' statistics (no unit rows), TS2Vec's
    own output beside it in the metrics; --no-ts2vec-standardise saves TS2Vec as it is."""
    from multicl.data.series_files import read_ts
    from multicl.eval.probe import knn_predict
    from multicl.recipes.sequence_contrastive import Config, main

    rng = np.random.default_rng(0)
    write_ts(tmp_path / "Toy_TRAIN.ts", rng, 12)
    write_ts(tmp_path / "Toy_TEST.ts", rng, 6)
    args = dict(train_file=str(tmp_path / "Toy_TRAIN.ts"), device="cpu", knn_k=3, ts2vec_steps=2, ts2vec_dims=16, ts2vec_hidden=8,
                ts2vec_depth=2, dtw_band=-1, resampled_join=False)
    metrics = main(Config(out_dir=str(tmp_path / "out"), **args))
    assert metrics["saved_space"] == "standardised" and 0 <= metrics["test_ts2vec_alone_1nn_accuracy"] <= 100
    # a standardising linear probe sees the same features in both spaces
    assert metrics["test_linear_accuracy"] == metrics["test_ts2vec_alone_linear_accuracy"]
    model = EmbeddingModel.load(tmp_path / "out" / "model")
    assert type(model.encoder).__name__ == "SeriesRawFusionEncoder" and not model.encoder.unit_rows and model.embed_dim == 16
    train, test = read_ts(str(tmp_path / "Toy_TRAIN.ts")), read_ts(str(tmp_path / "Toy_TEST.ts"))
    z = model.encode(train.series, normalize=False)
    spread = model.encoder.embedding_std.numpy() > 1e-5
    np.testing.assert_allclose(z.mean(0), 0, atol=1e-4)
    np.testing.assert_allclose(z.std(0)[spread], 1, atol=1e-3)
    names = train.class_names
    predicted = knn_predict(z, train.label_ids(names), model.encode(test.series, normalize=False), k=1)
    assert 100 * np.mean(predicted == test.label_ids(names)) == pytest.approx(metrics["test_1nn_accuracy"])
    plain = main(Config(out_dir=str(tmp_path / "plain"), ts2vec_standardise=False, **args))
    assert plain["saved_space"] == "as_trained" and "test_ts2vec_alone_1nn_accuracy" not in plain
    assert type(EmbeddingModel.load(tmp_path / "plain" / "model").encoder).__name__ == "TS2VecEncoder"
    assert plain["test_linear_accuracy"] == metrics["test_linear_accuracy"]  # same seed, same training


def test_sequence_recipe_joins_the_resampled_model_on_variable_length_series(tmp_path):
    """The default on series of several lengths: [as-is standardised, resampled-input standardised] saved; its first
    block is the as-is model's own space (same seed, same training), the metrics carry the as-is model alone, and the
    saved model reproduces the recipe's 1-NN score from raw series."""
    from multicl.data.series_files import read_ts
    from multicl.eval.probe import knn_predict
    from multicl.recipes.sequence_contrastive import Config, main

    rng = np.random.default_rng(0)
    write_ts(tmp_path / "Toy_TRAIN.ts", rng, 12)  # lengths 24-28
    write_ts(tmp_path / "Toy_TEST.ts", rng, 6)
    args = dict(train_file=str(tmp_path / "Toy_TRAIN.ts"), device="cpu", knn_k=3, ts2vec_steps=2, ts2vec_dims=16, ts2vec_hidden=8,
                ts2vec_depth=2, dtw_band=-1)
    metrics = main(Config(out_dir=str(tmp_path / "joined"), **args))
    weight = Config().resampled_join_weight
    assert metrics["saved_space"] == f"standardised, [as is, {weight:g} x resampled] joined" and metrics["resampled_pretrain_seconds"] > 0
    assert 0 <= metrics["test_ts2vec_as_is_1nn_accuracy"] <= 100
    model = EmbeddingModel.load(tmp_path / "joined" / "model")
    assert type(model.encoder).__name__ == "SeriesResampledJoinEncoder" and model.embed_dim == 32 and model.encoder.length == 28
    assert model.encoder.resampled_weight == weight
    train, test = read_ts(str(tmp_path / "Toy_TRAIN.ts")), read_ts(str(tmp_path / "Toy_TEST.ts"))
    z = model.encode(train.series, normalize=False)
    names = train.class_names
    predicted = knn_predict(z, train.label_ids(names), model.encode(test.series, normalize=False), k=1)
    assert 100 * np.mean(predicted == test.label_ids(names)) == pytest.approx(metrics["test_1nn_accuracy"])
    alone = main(Config(out_dir=str(tmp_path / "alone"), resampled_join=False, **args))
    assert alone["saved_space"] == "standardised" and alone["test_1nn_accuracy"] == metrics["test_ts2vec_as_is_1nn_accuracy"]
    as_is = EmbeddingModel.load(tmp_path / "alone" / "model").encode(train.series, normalize=False)
    np.testing.assert_allclose(z[:, :16], as_is, rtol=1e-4, atol=1e-4)
    only = main(Config(out_dir=str(tmp_path / "only"), resampled_only=True, **args))  # the same two trainings, one block saved
    assert only["saved_space"] == "standardised, resampled only"
    resampled = EmbeddingModel.load(tmp_path / "only" / "model")
    assert resampled.embed_dim == 16
    np.testing.assert_allclose(resampled.encode(train.series, normalize=False), z[:, 16:] / weight, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("method", ["dino", "swav"])
def test_sequence_recipe_multi_crop_methods_train_save_and_report(method, tmp_path):
    """--method dino / swav: the TS2Vec encoder on multi-crop views of each series; the saved model (DINO: the
    teacher) gives the embeddings the recipe scored."""
    from multicl.recipes.sequence_contrastive import Config, main

    rng = np.random.default_rng(0)
    write_ts(tmp_path / "Toy_TRAIN.ts", rng, 12)
    write_ts(tmp_path / "Toy_TEST.ts", rng, 6)
    metrics = main(Config(train_file=str(tmp_path / "Toy_TRAIN.ts"), out_dir=str(tmp_path / "out"), device="cpu", method=method, knn_k=3,
                          multi_crop_steps=3, multi_crop_batch_size=4, local_crops=1, dino_out_dim=16, ts2vec_dims=16, ts2vec_hidden=8,
                          ts2vec_depth=2, dtw_band=-1))
    assert metrics["method"] == method and metrics["test_svm_accuracy"] == metrics[f"test_{method}_svm_accuracy"]
    assert 0 <= metrics[f"test_{method}_random_init_knn_accuracy"] <= 100
    model = EmbeddingModel.load(tmp_path / "out" / "model")
    assert type(model.encoder).__name__ == "TS2VecEncoder" and model.embed_dim == 16
    from multicl.data.series_files import read_ts

    test = read_ts(str(tmp_path / "Toy_TEST.ts")).series
    z = model.encode(test)
    assert z.shape == (6, 16) and np.allclose(np.linalg.norm(z, axis=1), 1, atol=1e-5)


@pytest.mark.slow
def test_audio_recipe_model_loads_encodes_and_searches(tmp_path):
    import soundfile as sf

    from multicl.recipes.audio_contrastive import cli

    rng = np.random.default_rng(0)
    data = tmp_path / "wavs"
    data.mkdir()
    for label, freq in ((0, 300.0), (1, 900.0)):
        for speaker, scale in (("a", 1.0), ("b", 1.2)):
            for take in range(6):
                n = int((0.3 + 0.02 * take) * 8000)
                wave = 0.3 * np.sin(2 * np.pi * freq * scale * np.arange(n) / 8000) + 0.01 * rng.standard_normal(n)
                sf.write(data / f"{label}_{speaker}_{take}.wav", wave.astype(np.float32), 8000)
    cli(["--data-dir", str(data), "--out-dir", str(tmp_path / "out"), "--device", "cpu", "--max-steps", "2", "--batch-size", "8", "--test-speaker", "b",
         "--supervised-steps", "0", "--channels", "4", "4", "--embed-dim", "8", "--knn-k", "1", "--cmvn", "mean"])
    model = EmbeddingModel.load(tmp_path / "out" / "model")
    meta = json.loads((tmp_path / "out" / "model" / "multicl.json").read_text())
    # the default saved model: the CNN joined with log-mel statistics (docs/audio.md)
    assert model.modality == "audio" and meta["encoder"]["class"] == "AudioStatsFusionEncoder"
    assert meta["encoder"]["args"]["cnn"]["channels"] == [4, 4] and meta["input"]["sample_rate"] == 8000
    assert meta["encoder"]["args"]["whiten_power"] == 0.25  # half whitening, the default since the eighteenth session
    files = sorted(str(p) for p in data.glob("*.wav"))
    index = model.index(files)
    ids, _ = index.search([files[0], (sf.read(files[5], dtype="float32")[0], 8000)], k=1)
    assert ids[:, 0].tolist() == [0, 5]


@pytest.mark.slow
def test_graph_recipe_model_loads_encodes_and_searches(tmp_path, shared_data):
    from multicl.data.planetoid import load_planetoid
    from multicl.recipes.graph_contrastive import Config, linear_probe, main

    data_dir = shared_data / "graph" / "planetoid"
    metrics = main(Config(data_dir=str(data_dir), name="Cora", method="cca_ssg", epochs=3, out_dir=str(tmp_path / "out"), device="cpu",
                          baselines=False))
    model = EmbeddingModel.load(tmp_path / "out" / "model")
    meta = json.loads((tmp_path / "out" / "model" / "multicl.json").read_text())
    assert model.modality == "graph" and meta["encoder"]["class"] == "GNNEncoder" and meta["input"] == {"level": "node", "in_dim": 1433}
    graph = load_planetoid(str(data_dir), "Cora")
    z = model.encode(graph, batch_size=graph.num_nodes, normalize=False)
    assert z.shape == (graph.num_nodes, model.embed_dim)
    np.testing.assert_allclose(model.encode(graph, batch_size=500, normalize=False), z, rtol=1e-5, atol=1e-5)  # batches of rows: same
    # the saved encoder is the trained one: the recipe's probe on these embeddings gives its figure again
    assert linear_probe(z, graph, 0)["test_accuracy"] == pytest.approx(metrics["test_accuracy"], abs=1e-9)
    ids, _ = model.index(z[:50]).search(z[:5], k=1)
    assert ids[:, 0].tolist() == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError, match="1433 features"):
        model.encode((graph.x[:, :10], graph.edge_index))
    with pytest.raises(TypeError, match="node-level graph model"):
        model.encode([graph])


@pytest.mark.slow
def test_security_recipe_methods_train_the_encoder_they_are_given():
    """Every ``--method`` of security_threat wraps the recipe's encoder itself (the one saved after training)
    and one step moves its weights."""
    import torch

    from multicl.data.table_preprocessing import TablePreprocessor
    from multicl.modalities.tabular import TabularAdapter
    from multicl.modalities.views_dataset import ViewsDataset
    from multicl.recipes.security_threat import SSL_METHODS, Config, self_supervised_learner

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"bytes": rng.pareto(1.2, 64) * 100, "rate": rng.random(64), "proto": rng.choice(["tcp", "udp"], 64)})
    pre = TablePreprocessor().fit(frame)
    adapter = TabularAdapter(pre.transform(frame), pre, embed_dim=8)
    dataset = ViewsDataset(list(range(32)), adapter, seed=0)
    batch = adapter.collate([dataset[i] for i in range(32)])
    for method in SSL_METHODS:
        torch.manual_seed(0)
        encoder = adapter.build_encoder()
        learner = self_supervised_learner(encoder, Config(method=method, embed_dim=8), 64)
        assert learner.encoder is encoder, method
        before = [p.detach().clone() for p in encoder.parameters()]
        optimizer = torch.optim.SGD(learner.parameters(), lr=0.1)
        learner(batch).backward()
        optimizer.step()
        assert any(not torch.equal(a, b) for a, b in zip(before, encoder.parameters())), method


@pytest.mark.slow
def test_security_recipe_anomaly_whitening_option_scores_the_whitened_space(tmp_path):
    from multicl.recipes.security_threat import Config, main

    rng = np.random.default_rng(1)
    for name, n in (("train", 120), ("test", 30)):
        pd.DataFrame({"bytes": rng.pareto(1.2, n) * 100, "proto": rng.choice(["tcp", "udp"], n),
                      "label": rng.choice(["normal", "dos"], n, p=[0.7, 0.3])}).to_csv(tmp_path / f"{name}.csv", index=False)
    metrics = main(Config(train_file=str(tmp_path / "train.csv"), test_file=str(tmp_path / "test.csv"), out_dir=str(tmp_path / "out"),
                          device="cpu", max_steps=2, batch_size=32, label_fractions=(), supervised_steps=2, finetune_steps=0, knn_k=3,
                          anomaly_k=3, embed_dim=8, anomaly_whitening=True))
    assert metrics["test_anomaly_auroc"] == metrics["test_whitened_anomaly_auroc"]
    assert (tmp_path / "out" / "anomaly_whitening.npz").exists()
