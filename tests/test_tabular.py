"""Tabular preprocessing, adapter and encoders: schema, scaling, OOV/missing policy, bad input."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from multicl.data.table_preprocessing import MISSING, OOV, TablePreprocessor
from multicl.modalities.views_dataset import ViewsDataset
from multicl.modalities.tabular import TabularAdapter, encode_table


def frame(n=200, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "bytes": rng.pareto(1.2, n) * 1000,            # heavy-tailed count
        "duration": rng.exponential(2.0, n),
        "proto": rng.choice(["tcp", "udp", "icmp"], n),
        "port": rng.choice([22, 80, 443], n).astype(str),
        "label": rng.integers(0, 3, n),
    })


def test_schema_is_inferred_and_label_excluded():
    pre = TablePreprocessor(exclude=["label"]).fit(frame())
    assert pre.numeric == ["bytes", "duration"] and pre.categorical == ["proto", "port"]
    assert pre.cardinalities == [5, 5]  # 3 values + OOV + missing
    out = pre.transform(frame(seed=1))
    assert out.numeric.shape == (200, 2) and out.categorical.shape == (200, 2)
    assert out.numeric.dtype == np.float32 and out.categorical.dtype == np.int64


def test_quantile_scaling_tames_heavy_tails_and_is_monotone():
    df = frame(2000)
    pre = TablePreprocessor(exclude=["label"]).fit(df)
    z = pre.transform(df).numeric[:, 0]
    assert abs(np.median(z)) < 0.05 and 0.8 < z.std() < 1.2 and np.abs(z).max() < 4
    order = np.argsort(df["bytes"].to_numpy())
    assert (np.diff(z[order]) >= -1e-6).all()
    robust = TablePreprocessor(exclude=["label"], scaling="robust").fit(df).transform(df).numeric[:, 0]
    assert np.isfinite(robust).all() and abs(np.median(robust)) < 1e-6


def test_missing_values_are_imputed_with_an_indicator():
    df = frame()
    df.loc[[3, 5], "duration"] = np.nan
    df.loc[7, "proto"] = None
    pre = TablePreprocessor(exclude=["label"]).fit(df)
    assert pre.numeric_width == 3  # bytes, duration, duration-was-missing
    out = pre.transform(df)
    assert out.numeric[[3, 5], 2].tolist() == [1.0, 1.0] and out.numeric[0, 2] == 0.0
    assert out.categorical[7, 0] == MISSING
    assert pre.last_report["imputed"] == {"duration": 2}


def test_unseen_categories_go_to_oov_and_are_counted():
    pre = TablePreprocessor(exclude=["label"]).fit(frame())
    test = frame(seed=2)
    test.loc[[0, 1, 2], "proto"] = "sctp"
    out = pre.transform(test)
    assert (out.categorical[:3, 0] == OOV).all()
    assert pre.last_report["unseen_categories"] == {"proto": 3}


def test_bad_input_names_the_problem():
    pre = TablePreprocessor(exclude=["label"]).fit(frame())
    with pytest.raises(KeyError, match="duration"):
        pre.transform(frame().drop(columns=["duration"]))
    bad = frame()
    bad["bytes"] = bad["bytes"].astype(object)
    bad.loc[4, "bytes"] = "lots"
    with pytest.raises(ValueError, match=r"row 4, numeric column 'bytes': 'lots' is not a number"):
        pre.transform(bad)
    inf = frame()
    inf.loc[9, "duration"] = np.inf
    with pytest.raises(ValueError, match=r"row 9, numeric column 'duration': inf is infinite"):
        pre.transform(inf)
    with pytest.raises(ValueError, match="empty"):
        pre.transform(frame().iloc[:0])
    with pytest.raises(ValueError, match="empty"):
        TablePreprocessor().fit(frame().iloc[:0])
    extra = frame()
    extra["surprise"] = 1
    pre.transform(extra)
    assert pre.last_report["ignored_columns"] == ["surprise"]


def test_save_load_round_trip(tmp_path):
    df = frame()
    pre = TablePreprocessor(exclude=["label"]).fit(df)
    pre.save(tmp_path / "pre.json")
    again = TablePreprocessor.load(tmp_path / "pre.json")
    a, b = pre.transform(df), again.transform(df)
    np.testing.assert_array_equal(a.numeric, b.numeric)
    np.testing.assert_array_equal(a.categorical, b.categorical)


@pytest.mark.parametrize("encoder", ["mlp", "ft_transformer"])
def test_adapter_views_batch_and_encoders(encoder):
    df = frame()
    pre = TablePreprocessor(exclude=["label"]).fit(df)
    table = pre.transform(df)
    adapter = TabularAdapter(table, pre, corruption=0.5, mask_rate=0.2, noise_std=0.1, labels=df["label"].to_numpy(),
                             positive="same_label", encoder=encoder, embed_dim=16, hidden_dims=(32,))
    dataset = ViewsDataset(list(range(len(table))), adapter, seed=3)
    batch = adapter.collate([dataset[i] for i in range(8)])
    inputs = batch.anchors.inputs
    assert inputs["numeric"].shape == (8, 2) and inputs["categorical"].shape == (8, 2) and batch.positives.inputs.num_rows == 8
    assert (inputs["categorical"] < torch.tensor(pre.cardinalities)).all()
    assert batch.anchors.meta["label"].tolist() == df["label"].to_numpy()[:8].tolist()
    again = adapter.collate([dataset[i] for i in range(8)])
    assert torch.equal(inputs["numeric"], again.anchors.inputs["numeric"])  # seeded views
    encoder_module = adapter.build_encoder()
    z = encoder_module(inputs)
    assert z.shape == (8, 16) and torch.isfinite(z).all()
    emb = encode_table(encoder_module, table, batch_size=64)
    assert emb.shape == (200, 16)


def test_scarf_draws_from_the_column_marginal():
    df = frame(500)
    pre = TablePreprocessor(exclude=["label"]).fit(df)
    table = pre.transform(df)
    adapter = TabularAdapter(table, pre, corruption=0.9)
    rng = np.random.default_rng(0)
    numeric, categorical = adapter._view(0, rng)
    for j in range(numeric.shape[0]):
        assert numeric[j] in set(table.numeric[:, j].tolist())
    for j in range(categorical.shape[0]):
        assert categorical[j] in set(table.categorical[:, j].tolist())


# -- a non-number in a numeric column (issue 14) ------------------------------------------------
def _write_table_with_typo(tmp_path, name, typo_line=None):
    """A CSV of 1,600 numeric cells (+ a categorical and a label); ``typo_line``: 'abc' in bytes there."""
    df = frame(n=400)
    path = tmp_path / name
    lines = df.to_csv(index=False).splitlines()
    if typo_line is not None:
        cells = lines[typo_line - 1].split(",")
        cells[list(df.columns).index("bytes")] = "abc"
        lines[typo_line - 1] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")
    return path


def test_one_non_number_in_a_training_column_is_an_error_naming_file_column_line_value(tmp_path):
    from multicl.data.table_files import read_table
    from multicl.errors import UserInputError

    path = _write_table_with_typo(tmp_path, "train.csv", typo_line=57)
    train = read_table(path)
    with pytest.raises(UserInputError, match=r"train.csv line 57, numeric column 'bytes': 'abc' is not a number"):
        TablePreprocessor().fit(train.drop(columns=["label"]))  # as the security recipe does: drop() keeps the file name


def test_non_number_at_test_time_names_the_test_file_line(tmp_path):
    from multicl.data.table_files import read_table
    from multicl.errors import UserInputError

    pre = TablePreprocessor(exclude=["label"]).fit(read_table(_write_table_with_typo(tmp_path, "train.csv")))
    text = _write_table_with_typo(tmp_path, "test.csv", typo_line=12).read_text().replace("\n", "\n\n", 3)  # blank lines too
    (tmp_path / "test.csv").write_text(text)
    with pytest.raises(UserInputError, match=r"test.csv line 15, numeric column 'bytes': 'abc'"):
        pre.transform(read_table(tmp_path / "test.csv"))


def test_non_numeric_nan_option_imputes_and_counts_and_keeps_the_column_numeric(tmp_path, caplog):
    from multicl.data.table_files import read_table
    from multicl.data.table_preprocessing import report_counts

    train = read_table(_write_table_with_typo(tmp_path, "train.csv", typo_line=57))
    pre = TablePreprocessor(exclude=["label"], non_numeric="nan").fit(train)
    assert "bytes" in pre.numeric and "bytes" not in pre.categorical
    with caplog.at_level("WARNING"):
        pre.transform(train)
    assert pre.last_report["non_numeric_cells"] == {"bytes": 1} and pre.last_report["imputed"] == {"bytes": 1}
    assert "non-numbers in numeric columns" in caplog.text
    assert report_counts(pre.last_report, "train")["train_cells_imputed"] == 1.0
