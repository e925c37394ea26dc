"""Real data (runs in CI too): the shared UEA/UCR files parse, the sequence recipe on BasicMotions
and on the Daphnet stream with a short budget, and a labelled CSV stream end to end."""
from __future__ import annotations

import json

import numpy as np
import pytest

from multicl.data.series_files import read_stream_csv, read_ts, stitch_series, write_stream_csv
from multicl.recipes import sequence_contrastive


@pytest.mark.realdata
@pytest.mark.parametrize("name, n_train, n_test, channels, lengths, classes", [
    ("BasicMotions", 40, 40, 6, (100, 100), 4),
    ("GunPoint", 50, 150, 1, (150, 150), 2),
    ("PickupGestureWiimoteZ", 50, 50, 1, (29, 361), 10),
])
def test_shared_ts_files_parse(shared_data, name, n_train, n_test, channels, lengths, classes):
    folder = shared_data / "timeseries" / name
    train, test = read_ts(folder / f"{name}_TRAIN.ts"), read_ts(folder / f"{name}_TEST.ts")
    assert (len(train.series), len(test.series), train.channels) == (n_train, n_test, channels)
    assert min(map(len, train.series)) >= lengths[0] and max(map(len, train.series)) <= lengths[1]
    assert len(train.class_names) == classes and set(test.labels) <= set(train.class_names)
    assert all(np.isfinite(s).all() for s in train.series)


@pytest.mark.realdata
@pytest.mark.parametrize("name, formats", [("GunPoint", (".arff", ".tsv")), ("BasicMotions", (".arff",))])
def test_shared_arff_and_tsv_files_read_as_the_ts_file(shared_data, name, formats):
    from multicl.data.series_readers import read_series_set

    folder = shared_data / "timeseries" / name
    reference = read_ts(folder / f"{name}_TRAIN.ts")
    for suffix in formats:
        other = read_series_set(folder / f"{name}_TRAIN{suffix}")
        assert other.labels == reference.labels and len(other.series) == len(reference.series)
        assert all(np.array_equal(a, b) for a, b in zip(reference.series, other.series))


@pytest.mark.realdata
@pytest.mark.slow
def test_sequence_recipe_basicmotions_short_run(shared_data, tmp_path):
    folder = shared_data / "timeseries" / "BasicMotions"
    metrics = sequence_contrastive.cli(["--train-file", str(folder / "BasicMotions_TRAIN.ts"), "--out-dir", str(tmp_path),
                                        "--device", "cpu", "--ts2vec-steps", "40", "--ts2vec-depth", "4", "--dtw-band", "-1"])
    assert metrics["method"] == "ts2vec" and metrics["split"] == "test"
    assert metrics["test_svm_accuracy"] >= 80 and metrics["test_svm_accuracy"] > metrics["test_raw_1nn_accuracy"]
    assert 0 < metrics["test_linear_accuracy"] <= 100 and 0 < metrics["test_raw_svm_accuracy"] <= 100
    assert json.loads((tmp_path / "metrics.json").read_text())["test_knn_accuracy"] == metrics["test_knn_accuracy"]
    assert (tmp_path / "model" / "model.safetensors").exists()


@pytest.mark.realdata
@pytest.mark.slow
def test_sequence_recipe_fused_model_saves_the_joined_space(shared_data, tmp_path):
    from multicl.api import EmbeddingModel
    from multicl.data.series_files import read_ts

    folder = shared_data / "timeseries" / "GunPoint"
    metrics = sequence_contrastive.cli(["--train-file", str(folder / "GunPoint_TRAIN.ts"), "--dev-fraction", "0.3", "--out-dir", str(tmp_path),
                                        "--device", "cpu", "--ts2vec-steps", "10", "--ts2vec-depth", "3", "--ts2vec-dims", "16",
                                        "--fuse-raw-weight", "0.5", "--dtw-band", "-1"])
    assert 0 < metrics["dev_ts2vec_alone_knn_accuracy"] <= 100 and 0 < metrics["dev_knn_accuracy"] <= 100  # TS2Vec alone beside the fused model
    model = EmbeddingModel.load(tmp_path / "model", device="cpu")
    assert type(model.encoder).__name__ == "SeriesRawFusionEncoder" and model.embed_dim == 16 + 150  # GunPoint: 150 steps, 1 channel
    z = model.encode(read_ts(str(folder / "GunPoint_TEST.ts")).series[:4])
    assert z.shape == (4, 166) and np.allclose(np.linalg.norm(z, axis=1), 1, atol=1e-5)


@pytest.mark.realdata
@pytest.mark.slow
def test_sequence_recipe_select_space_saves_the_chosen_space(shared_data, tmp_path):
    """--select-space: the choice is made on the fit series, every candidate's scores are kept, and the saved model
    encodes the chosen space: its 1-NN on the dev series repeats the recipe's figure."""
    from multicl.api import EmbeddingModel
    from multicl.eval.probe import knn_predict
    from multicl.recipes._series_space import CANDIDATES

    folder = shared_data / "timeseries" / "GunPoint"
    metrics = sequence_contrastive.cli(["--train-file", str(folder / "GunPoint_TRAIN.ts"), "--dev-fraction", "0.3", "--out-dir", str(tmp_path),
                                        "--device", "cpu", "--ts2vec-steps", "10", "--ts2vec-depth", "3", "--ts2vec-dims", "16",
                                        "--select-space", "all", "--dtw-band", "-1"])
    assert metrics["space_chosen"] in CANDIDATES and metrics["space_criterion"] == "all"
    assert set(metrics["space_selection"]) == set(CANDIDATES)
    assert all(set(v) == {"1nn", "knn", "linear", "svm", "criterion"} for v in metrics["space_selection"].values())
    best = max(v["criterion"] for v in metrics["space_selection"].values())
    assert metrics["space_selection"][metrics["space_chosen"]]["criterion"] == best
    assert 0 < metrics["dev_ts2vec_alone_1nn_accuracy"] <= 100
    train = read_ts(str(folder / "GunPoint_TRAIN.ts"))
    y = train.label_ids(train.class_names)
    fit_s, y_fit, dev_s, y_dev = sequence_contrastive.dev_split(train.series, y, 0.3, 0)
    model = EmbeddingModel.load(tmp_path / "model", device="cpu")
    predicted = knn_predict(model.encode(fit_s, normalize=False), y_fit, model.encode(dev_s, normalize=False), k=1)
    assert 100 * np.mean(predicted == y_dev) == pytest.approx(metrics["dev_1nn_accuracy"])


@pytest.mark.realdata
def test_sequence_recipe_daphnet_stream_reports_windows_and_missing_positives(shared_data, tmp_path):
    path = shared_data / "timeseries" / "Daphnet_S06R02E0" / "S06R02E0.csv"
    stream = read_stream_csv(path)
    assert stream.values.shape == (7040, 9) and stream.sample_rate == pytest.approx(64, rel=0.01)
    metrics = sequence_contrastive.cli(["--train-file", str(path), "--out-dir", str(tmp_path), "--device", "cpu", "--max-steps", "10",
                                        "--window-ablation", "128", "--method", "infonce"])
    assert metrics["window_off_false_negative_share_before"] > 0 and metrics["window_128_false_negative_share_after"] == 0
    assert metrics["window_128_removed_per_anchor"] > 0
    # this recording's is_anomaly column is 0 everywhere: no AUROC exists, and the recipe says so
    assert metrics["test_auroc"] is None and "label 0" in metrics["test_auroc_note"]
    assert json.loads((tmp_path / "metrics.json").read_text())["test_auroc"] is None


@pytest.mark.realdata
def test_sequence_recipe_labelled_stream_gives_auroc(shared_data, tmp_path):
    """BasicMotions series stitched into one CSV stream per split: a stream whose labels change."""
    folder = shared_data / "timeseries" / "BasicMotions"
    for split in ("TRAIN", "TEST"):
        write_stream_csv(stitch_series(read_ts(folder / f"BasicMotions_{split}.ts")), tmp_path / f"{split.lower()}.csv")
    metrics = sequence_contrastive.cli(["--train-file", str(tmp_path / "train.csv"), "--test-file", str(tmp_path / "test.csv"),
                                        "--out-dir", str(tmp_path / "run"), "--device", "cpu", "--max-steps", "30", "--clip-length", "32",
                                        "--stride", "4", "--eval-stride", "16", "--stream-jitter", "2", "8", "--exclusion-window", "32",
                                        "--method", "infonce"])
    assert 50 < metrics["test_auroc"] <= 100 and 25 < metrics["test_knn_accuracy"] <= 100


@pytest.mark.realdata
@pytest.mark.slow
def test_dev_split_never_reads_the_test_file_and_compares_both_methods(shared_data, tmp_path):
    """--dev-fraction scores on a stratified share of the TRAINING file: no *_TEST.ts is needed."""
    import shutil

    train = tmp_path / "GunPoint_TRAIN.ts"  # alone in its folder: a read of GunPoint_TEST.ts would fail
    shutil.copy(shared_data / "timeseries" / "GunPoint" / "GunPoint_TRAIN.ts", train)
    metrics = sequence_contrastive.cli(["--train-file", str(train), "--out-dir", str(tmp_path / "run"), "--device", "cpu", "--dev-fraction", "0.3",
                                        "--compare", "--max-steps", "5", "--ts2vec-steps", "5", "--ts2vec-depth", "3", "--dtw-band", "-1"])
    assert metrics["split"] == "dev" and metrics["train_series"] == 35 and metrics["dev_series"] == 15
    assert not any(k.startswith("test_") for k in metrics)
    for p in ("dev_ts2vec", "dev_infonce", "dev_ts2vec_random_init", "dev_infonce_random_init", "dev_raw"):
        assert 0 <= metrics[f"{p}_svm_accuracy"] <= 100
    assert metrics["dev_svm_accuracy"] == metrics["dev_ts2vec_svm_accuracy"]


def test_dev_fraction_and_method_errors():
    from multicl.errors import UserInputError
    from multicl.recipes.sequence_contrastive import Config, check_args

    for bad in ({"method": "simclr"}, {"dev_fraction": 1.5}, {"window_ablation": (32,)}, {"dev_fraction": 0.3, "test_file": "x_TEST.ts"},
                {"method": "dino", "global_crops": 1}, {"method": "swav", "local_share": (0.5, 1.5)}, {"select_space": "best"},
                {"fuse_raw_weight": -1.0}, {"resampled_only": True, "resampled_join": False}, {"test_file": "x_TEST.csv"}):
        with pytest.raises(UserInputError):
            check_args(Config(train_file="x_TRAIN.ts", **bad))
