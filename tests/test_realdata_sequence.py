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
def test_sequence_recipe_basicmotions_short_run(shared_data, tmp_path):
    folder = shared_data / "timeseries" / "BasicMotions"
    metrics = sequence_contrastive.cli(["--train-file", str(folder / "BasicMotions_TRAIN.ts"), "--out-dir", str(tmp_path),
                                        "--device", "cpu", "--max-steps", "60"])
    assert metrics["test_knn_accuracy"] >= 80 and metrics["test_knn_accuracy"] > metrics["test_raw_1nn_accuracy"]
    assert 0 < metrics["test_linear_accuracy"] <= 100
    assert json.loads((tmp_path / "metrics.json").read_text())["test_knn_accuracy"] == metrics["test_knn_accuracy"]
    assert (tmp_path / "model" / "model.safetensors").exists()


@pytest.mark.realdata
def test_sequence_recipe_daphnet_stream_reports_windows_and_missing_positives(shared_data, tmp_path):
    path = shared_data / "timeseries" / "Daphnet_S06R02E0" / "S06R02E0.csv"
    stream = read_stream_csv(path)
    assert stream.values.shape == (7040, 9) and stream.sample_rate == pytest.approx(64, rel=0.01)
    metrics = sequence_contrastive.cli(["--train-file", str(path), "--out-dir", str(tmp_path), "--device", "cpu", "--max-steps", "10",
                                        "--window-ablation", "128"])
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
                                        "--stride", "4", "--eval-stride", "16", "--stream-jitter", "2", "8", "--exclusion-window", "32"])
    assert 50 < metrics["test_auroc"] <= 100 and 25 < metrics["test_knn_accuracy"] <= 100
