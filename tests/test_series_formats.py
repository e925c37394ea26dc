"""The UEA/UCR archives' other formats: .arff (univariate and relational) and the UCR 2018 .tsv,
read to the same series and labels as .ts; malformed files fail with the line; the registry."""
from __future__ import annotations

import gzip

import numpy as np
import pytest

from multicl.data.series_arff import read_arff
from multicl.data.series_files import canonical_label, read_ts, trim_trailing_padding
from multicl.data.series_readers import SERIES_SET_READERS, default_test_path, read_series_set, series_set_format
from multicl.data.series_ucr_tsv import read_ucr_tsv
from multicl.errors import UserInputError

UNIVARIATE_ARFF = """% a comment
@RELATION Toy
@ATTRIBUTE att0 NUMERIC
@attribute att1 numeric
@attribute att2 numeric
@attribute target {1,2}

@data
1.5,2,3,1
4,?,?,2
"""

RELATIONAL_ARFF = """@relation 'Motion'
@attribute relationalAtt relational
@attribute att0 numeric
@attribute att1 numeric
@attribute att2 numeric
@end relationalAtt
@attribute activity {Standing,'Running'}
@data
'1,2,3\\n4,5,6',Standing
"7,?,?\\n8,9,?",Running
"""


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_univariate_arff_cuts_trailing_padding_and_keeps_inner_gaps(tmp_path):
    data = read_arff(write(tmp_path, "Toy_TRAIN.arff", UNIVARIATE_ARFF))
    assert data.name == "Toy" and data.class_names == ["1", "2"] and data.labels == ["1", "2"]
    assert [s.shape for s in data.series] == [(3, 1), (1, 1)]  # 4,?,? is a series of length 1
    np.testing.assert_array_equal(data.series[0][:, 0], [1.5, 2, 3])


def test_relational_arff_reads_dimensions_and_pads_only_where_every_dimension_is_missing(tmp_path):
    data = read_arff(write(tmp_path, "M.arff", RELATIONAL_ARFF))
    assert data.name == "Motion" and data.class_names == ["Standing", "Running"] and data.labels == ["Standing", "Running"]
    np.testing.assert_array_equal(data.series[0], [[1, 4], [2, 5], [3, 6]])
    second = data.series[1]  # step 2 is missing in both dimensions (padding), step 1 only in one (a gap)
    assert second.shape == (2, 2) and second[0].tolist() == [7, 8] and np.isnan(second[1, 0]) and second[1, 1] == 9


def test_ucr_tsv_numeric_labels_variable_length_and_gzip(tmp_path):
    text = "1\t0.5\t1.5\t2.5\n-1.0\t3\tNaN\t4\n2\t5\t6\tNaN\tNaN\n"
    for path in (write(tmp_path, "U_TRAIN.tsv", text), tmp_path / "U_TRAIN.tsv.gz"):
        if path.suffix == ".gz":
            path.write_bytes(gzip.compress(text.encode()))
        data = read_series_set(path)
        assert data.name == "U" and data.labels == ["1", "-1", "2"] and data.channels == 1
        assert [len(s) for s in data.series] == [3, 3, 2]
        assert np.isnan(data.series[1][1, 0])  # an inner NaN is a gap, not padding


def test_the_three_formats_agree_on_one_set(tmp_path):
    rng = np.random.default_rng(0)
    rows = [(rng.standard_normal(int(rng.integers(3, 7))).round(4), "ab"[i % 2]) for i in range(5)]
    width = max(len(v) for v, _ in rows)
    ts = "@problemName S\n@univariate true\n@equalLength false\n@classLabel true a b\n@data\n" + "".join(
        ",".join(map(str, v)) + f":{y}\n" for v, y in rows)
    pad = lambda v, cell: list(map(str, v)) + [cell] * (width - len(v))  # noqa: E731
    arff = "@relation S\n" + "".join(f"@attribute t{i} numeric\n" for i in range(width)) + "@attribute c {a,b}\n@data\n" + "".join(
        ",".join(pad(v, "?")) + f",{y}\n" for v, y in rows)
    tsv = "".join(y + "\t" + "\t".join(pad(v, "NaN")) + "\n" for v, y in rows)
    sets = [read_ts(write(tmp_path, "S.ts", ts)), read_arff(write(tmp_path, "S.arff", arff)), read_ucr_tsv(write(tmp_path, "S.tsv", tsv))]
    for other in sets[1:]:
        assert other.labels == sets[0].labels and len(other.series) == 5
        for a, b in zip(sets[0].series, other.series):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("reader, name, text, message", [
    (read_arff, "x.arff", "@relation x\n@attribute a numeric\n", "no '@data' line"),
    (read_arff, "x.arff", "@data\n1,2\n", r"x.arff:1: '@data' before any '@attribute'"),
    (read_arff, "x.arff", "@relation x\n@attribute a\n@data\n", r"x.arff:2: '@attribute a' has no type"),
    (read_arff, "x.arff", "@relation x\n@bogus y\n", r"x.arff:2: expected '@relation'"),
    (read_arff, "x.arff", "@attribute a numeric\n@attribute c {u,v}\n@data\n1,w\n", r"x.arff:4: label 'w' is not among"),
    (read_arff, "x.arff", "@attribute a numeric\n@attribute c {u,v}\n@data\n1,u\n1,2,u\n", r"x.arff:5: 3 cells, the header declares 2"),
    (read_arff, "x.arff", RELATIONAL_ARFF.replace("'1,2,3\\n4,5,6'", "'1,2,3'"), r"x.arff:10: 2 dimensions, earlier series have 1"),
    (read_arff, "x.arff", "@attribute a numeric\n@attribute c {u,v}\n@data\n{0 1}\n", "sparse ARFF rows"),
    (read_arff, "x.arff", "@attribute a numeric\n@attribute c {u,v}\n@data\nx,u\n", r"x.arff:4: values"),
    (read_arff, "x.arff", RELATIONAL_ARFF.replace("'1,2,3\\n4,5,6',Standing", "1,2,3,Standing"), r"x.arff:9: expected a quoted series"),
    (read_arff, "x.arff", RELATIONAL_ARFF.replace("'1,2,3\\n4,5,6'", "'1,2,3\\n4,5'"), "different lengths"),
    (read_arff, "x.arff", "@attribute a numeric\n@attribute c {u,v}\n@data\n", "no series after"),
    (read_ucr_tsv, "x.tsv", "1\t2\tx\n", r"x.tsv:1: .*must be a number"),
    (read_ucr_tsv, "x.tsv", "1\n", r"x.tsv:1: expected 'label<TAB>value"),
    (read_ucr_tsv, "x.tsv", "1\tNaN\tNaN\n", r"x.tsv:1: the series holds no value"),
    (read_ucr_tsv, "x.tsv", "\n", "no series"),
])
def test_malformed_files_name_the_line(tmp_path, reader, name, text, message):
    with pytest.raises(UserInputError, match=message):
        reader(write(tmp_path, name, text))


def test_registry_suffixes_and_the_test_file_beside_the_training_file(tmp_path):
    assert set(SERIES_SET_READERS) == {".ts", ".arff", ".tsv"}
    assert [series_set_format(p) for p in ("a.ts", "a.TSV", "a.arff.gz", "a.csv", "a.ts.bak")] == [".ts", ".tsv", ".arff", None, None]
    with pytest.raises(UserInputError, match="not a series-set file"):
        read_series_set(tmp_path / "a.csv")
    train = write(tmp_path, "G_TRAIN.tsv", "1\t2\t3\n")
    assert default_test_path(train) is None
    write(tmp_path, "G_TEST.ts", "")
    assert default_test_path(train) == tmp_path / "G_TEST.ts"  # another format when the same one is absent
    write(tmp_path, "G_TEST.tsv", "")
    assert default_test_path(train) == tmp_path / "G_TEST.tsv"  # the same format first
    assert default_test_path(tmp_path / "other.tsv") is None


def test_helpers():
    assert [canonical_label(x) for x in ("1.0", "01", "-1", " 'a' ", "1.5", "nan")] == ["1", "1", "-1", "a", "1.5", "nan"]
    x = np.array([[1, np.nan], [np.nan, 2], [np.nan, np.nan]], dtype=np.float32)
    assert trim_trailing_padding(x).shape == (2, 2)
    assert trim_trailing_padding(np.full((3, 1), np.nan)).shape == (0, 1)


def test_recipe_names_the_test_file_whose_labels_the_training_file_lacks(tmp_path):
    from multicl.recipes.sequence_contrastive import Config, main

    write(tmp_path, "U_TRAIN.tsv", "1\t1\t2\t3\t4\n2\t4\t3\t2\t1\n1\t1\t2\t3\t5\n2\t5\t3\t2\t1\n")
    write(tmp_path, "U_TEST.tsv", "3\t1\t2\t3\t4\n")
    with pytest.raises(UserInputError, match=r"U_TEST.tsv: labels \['3'\] are not among the classes \['1', '2'\] \(the classes of the training file U_TRAIN.tsv\)"):
        main(Config(train_file=str(tmp_path / "U_TRAIN.tsv"), out_dir=str(tmp_path / "out"), device="cpu", ts2vec_steps=1))
