"""Real data (runs in CI too): the security recipe end to end on NSL-KDD with a short budget,
the KDD99 gzip file through the reader and preprocessing, and table files with bad content."""
import json

import numpy as np
import pandas as pd
import pytest

from multicl.data.nsl_kdd import read_connection_records
from multicl.data.table_files import read_table
from multicl.data.table_preprocessing import TablePreprocessor
from multicl.recipes import security_threat


@pytest.mark.realdata
@pytest.mark.slow
def test_security_recipe_short_run(shared_data, tmp_path):
    folder = shared_data / "security" / "nsl_kdd"
    metrics = security_threat.cli([
        "--train-file", str(folder / "KDDTrain+_20Percent.txt"), "--test-file", str(folder / "KDDTest+.txt"),
        "--out-dir", str(tmp_path), "--device", "cpu", "--max-steps", "30", "--finetune-steps", "10",
        "--supervised-steps", "30", "--label-fractions", "0.01", "--label-draws", "2",
    ])
    for key in ("test_binary_macro_f1", "test_category_macro_f1", "test_anomaly_auroc", "test_1pct_pretrained_linear_category_macro_f1",
                "test_1pct_supervised_mlp_category_macro_f1", "test_1pct_raw_linear_category_macro_f1", "test_supcon_linear_category_macro_f1"):
        assert 0.0 < metrics[key] <= 100.0, key
    for key in ("test_hard_category_macro_f1", "test_hard_1pct_concat_linear_category_macro_f1", "test_hard_raw_knn_category_macro_f1",
                "test_concat_linear_category_macro_f1", "test_1pct_concat_knn_category_macro_f1_std", "test_hard_anomaly_auroc",
                "test_pretrained_anomaly_auroc", "test_hard_raw_anomaly_auroc"):
        assert key in metrics, key  # KDDTest-21 (difficulty < 21) and the [embedding | raw] probe
    assert metrics["test_category_macro_f1"] == metrics["test_concat_linear_category_macro_f1"]  # the dev-chosen headline
    assert metrics["test_anomaly_auroc"] > 70  # attacks sit far from normal traffic even after 30 steps
    assert json.loads((tmp_path / "metrics.json").read_text())["test_binary_macro_f1"] == metrics["test_binary_macro_f1"]
    assert (tmp_path / "confusion_pretrained_linear.png").stat().st_size > 1000
    assert (tmp_path / "model" / "model.safetensors").exists() and (tmp_path / "model" / "preprocessing.json").exists()


@pytest.mark.realdata
@pytest.mark.slow
def test_security_recipe_dev_split_never_reads_the_test_file(shared_data, tmp_path):
    folder = shared_data / "security" / "nsl_kdd"
    garbage = tmp_path / "not_a_kdd_file.txt"
    garbage.write_text("this,is,not,a,connection,record\n")  # dev mode must never read the test file
    cfg = security_threat.Config(train_file=str(folder / "KDDTrain+_20Percent.txt"), test_file=str(garbage),
                                 out_dir=str(tmp_path), device="cpu", max_steps=10, finetune_steps=0, supervised_steps=10,
                                 label_fractions=(0.05,), label_draws=1, eval_split="dev")
    metrics = security_threat.main(cfg)  # reading the garbage test file would raise
    assert "dev_category_macro_f1" in metrics and "dev_hard_category_macro_f1" in metrics
    assert not any(k.startswith("test_") for k in metrics)


@pytest.mark.realdata
@pytest.mark.slow
def test_kdd99_gzip_file_reads_and_preprocesses(shared_data):
    records = read_connection_records(shared_data / "security" / "kddcup99" / "kddcup.data_10_percent.gz")
    assert len(records.attack) == 494021 and "smurf" in set(records.attack)
    frame = records.to_frame().drop(columns=["attack"]).iloc[:20000]
    table = TablePreprocessor().fit(frame).transform(frame)
    assert table.numeric.shape == (20000, 38) and np.isfinite(table.numeric).all()


def test_table_files_and_bad_tables(tmp_path):
    good = tmp_path / "t.csv"
    pd.DataFrame({"a": [1, 2], "b": ["x", "y"], "label": ["normal", "dos"]}).to_csv(good, index=False)
    assert read_table(good).shape == (2, 3)
    pq = tmp_path / "t.parquet"
    read_table(good).to_parquet(pq)
    assert read_table(pq).shape == (2, 3)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(ValueError, match="is empty"):
        read_table(empty)
    header_only = tmp_path / "header.csv"
    header_only.write_text("a,b,label\n")
    with pytest.raises(ValueError, match="no rows"):
        read_table(header_only)
    with pytest.raises(FileNotFoundError):
        read_table(tmp_path / "missing.csv")


def test_recipe_on_a_csv_table_names_a_missing_label_column(tmp_path):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=60), "proto": rng.choice(["tcp", "udp"], 60), "kind": rng.choice(["normal", "scan"], 60)})
    frame.to_csv(tmp_path / "train.csv", index=False)
    with pytest.raises(KeyError, match="label column 'label' not found"):
        security_threat.cli(["--train-file", str(tmp_path / "train.csv"), "--test-file", str(tmp_path / "train.csv"), "--out-dir", str(tmp_path / "o")])
