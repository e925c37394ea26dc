"""Vector adapter views, NSL-KDD reader and featurizer, probes (synthetic inputs)."""
import numpy as np
import pytest

from multicl.data.nsl_kdd import CATEGORIES, ConnectionFeaturizer, read_connection_records
from multicl.eval.probe import knn_probe, linear_probe
from multicl.modalities.vector import VectorAdapter
from multicl.negatives.masks import masks_from_labels

ROW = "0,tcp,http,SF,{b},0,0,0,0,0,0,1,0,0,0,0,0,0,0,0,0,0,1,1,0.00,0.00,0.00,0.00,1.00,0.00,0.00,9,9,1.00,0.00,0.11,0.00,0.00,0.00,0.00,0.00,{label},21"


def test_scarf_views_draw_from_marginals_and_keep_the_rest():
    x = np.arange(200, dtype=np.float32).reshape(10, 20)
    adapter = VectorAdapter(x, corruption=0.5)
    a, b = adapter.views(3, np.random.default_rng(0))
    for view in (a, b):
        changed = view != x[3]
        assert changed.any() and (~changed).any()
        for j in np.flatnonzero(changed):
            assert view[j] in x[:, j]  # a value of the same feature from another row
    with pytest.raises(ValueError, match="NaN or inf"):
        VectorAdapter(np.array([[1.0, np.nan]]))
    with pytest.raises(ValueError, match="rows of 20 features"):
        adapter.prepare_inputs(np.zeros((2, 3)))


def test_masks_from_labels():
    import torch

    pos, neg = masks_from_labels(torch.tensor([0, 1, 0]))
    assert pos.tolist() == [[False, False, True], [False, False, False], [True, False, False]]
    assert neg.tolist() == [[False, True, False], [True, False, True], [False, True, False]]


def test_connection_records_reader_and_featurizer(tmp_path):
    train = tmp_path / "train.txt"
    train.write_text("\n".join([ROW.format(b=100, label="normal"), ROW.format(b=10**6, label="neptune"), ROW.format(b=5, label="guess_passwd")]) + "\n")
    records = read_connection_records(train)
    assert [CATEGORIES[c] for c in records.category] == ["normal", "dos", "r2l"]
    assert records.is_attack.tolist() == [0, 1, 1]
    featurizer = ConnectionFeaturizer().fit(records)
    x = featurizer.transform(records)
    assert x.shape == (3, 38 + (1 + 1) * 3) and np.isfinite(x).all()
    test = tmp_path / "test.txt"
    test.write_text(ROW.format(b=1, label="normal").replace("http", "gopher") + "\n")
    x_test = featurizer.transform(read_connection_records(test))
    assert x_test[0, 38 + 2 + 1] == 1.0 and x_test[0, 38 + 2] == 0.0  # unseen service -> its out-of-vocabulary column
    bad = tmp_path / "bad.txt"
    bad.write_text("1,2,3\n")
    with pytest.raises(ValueError, match="line 1: expected 41 features"):
        read_connection_records(bad)
    bad.write_text(ROW.format(b=1, label="normal") + "\n" + ROW.format(b="lots", label="normal") + "\n")
    with pytest.raises(ValueError, match="line 2, numeric column 'src_bytes': 'lots' is not a number.*--non-numeric nan"):
        read_connection_records(bad)
    imputed = read_connection_records(bad, non_numeric="nan")  # what the advice says: the cell becomes missing
    assert np.isnan(imputed.numeric[1]).sum() == 1 and np.isfinite(imputed.numeric[0]).all()
    unknown = tmp_path / "unknown.txt"
    unknown.write_text(ROW.format(b=1, label="zeroday") + "\n")
    with pytest.raises(ValueError, match="zeroday"):
        read_connection_records(unknown).category


def test_probes_separate_separable_data():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 300)
    x = np.eye(3)[y] * 5 + rng.normal(0, 0.3, (300, 3))
    assert knn_probe(x[:200], y[:200], x[200:], y[200:], k=5)["knn_accuracy"] == pytest.approx(100.0)
    assert linear_probe(x[:200], y[:200], x[200:], y[200:])["linear_macro_f1"] == pytest.approx(100.0)
    with pytest.raises(ValueError, match="k=10"):
        knn_probe(x[:5], y[:5], x, y, k=10)


def test_join_unit_blocks_weighs_each_blocks_cosine_by_its_weight_squared():
    from multicl.eval.probe import join_unit_blocks, unit_rows

    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((5, 3)) * 100, rng.standard_normal((5, 7))  # different widths and scales
    joined = unit_rows(join_unit_blocks(a, b, weights=(1.0, 0.5)))
    cos_a, cos_b = unit_rows(a) @ unit_rows(a).T, unit_rows(b) @ unit_rows(b).T
    np.testing.assert_allclose(joined @ joined.T, (cos_a + 0.25 * cos_b) / 1.25, atol=1e-12)
    np.testing.assert_allclose(join_unit_blocks(a, b), np.hstack([unit_rows(a), unit_rows(b)]))
    with pytest.raises(ValueError, match="2 blocks but 1 weights"):
        join_unit_blocks(a, b, weights=(1.0,))
