"""Readers of .ts series sets and CSV streams; gap filling; malformed input fails with the line."""
from __future__ import annotations

import numpy as np
import pytest

from multicl.data.series_files import fill_gaps, read_stream_csv, read_ts

HEADER = "#comment\n@problemName Toy\n@timeStamps false\n@missing true\n@univariate false\n@dimensions 2\n@equalLength false\n@classLabel true up down\n@data\n"


def write(tmp_path, text, name="toy.ts"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_read_ts_multivariate_variable_length_with_missing(tmp_path):
    path = write(tmp_path, HEADER + "1,2,3:4,5,6:up\n1,?,3,4:5,6,7,8:down\n")
    data = read_ts(path)
    assert data.name == "Toy" and data.class_names == ["up", "down"] and data.labels == ["up", "down"]
    assert [s.shape for s in data.series] == [(3, 2), (4, 2)]
    np.testing.assert_array_equal(data.series[0][:, 1], [4, 5, 6])
    assert np.isnan(data.series[1][1, 0])
    np.testing.assert_array_equal(data.label_ids(), [0, 1])


def test_read_ts_univariate_unlabelled(tmp_path):
    path = write(tmp_path, "@problemName U\n@univariate true\n@classLabel false\n@data\n1,2,3\n4,5,6\n")
    data = read_ts(path)
    assert data.labels is None and data.channels == 1 and len(data.series) == 2
    with pytest.raises(ValueError, match="carry no class labels"):
        data.label_ids()


@pytest.mark.parametrize("text, message", [
    ("@problemName X\n@classLabel true a b\n1,2:a\n", r"toy.ts:3: expected a header line"),
    ("@problemName X\n@classLabel true a b\n", "no '@data' line"),
    ("@problemName X\n@classLabel maybe a b\n@data\n", r"toy.ts:2: @classlabel must be 'true' or 'false'"),
    ("@classLabel true\n@data\n", r"toy.ts:1: '@classLabel true' must list"),
    ("@dimensions two\n@data\n", "@dimensions must be a positive integer"),
    ("@classLabel true a b\n@data\n1,2:c\n", r"toy.ts:3: label 'c' is not among the declared classes"),
    ("@dimensions 2\n@classLabel true a b\n@data\n1,2:a\n", r"toy.ts:4: 1 dimensions, the header declares 2"),
    ("@classLabel true a b\n@data\n1,2:3,4:a\n1,2:a\n", r"toy.ts:4: 1 dimensions, earlier series have 2"),
    ("@classLabel true a b\n@data\n1,2:3:a\n", "different lengths"),
    ("@classLabel true a b\n@data\n1,x:a\n", r"toy.ts:3: dimension 0"),
    ("@classLabel true a b\n@data\n1,2\n", "found no ':'"),
    ("@timeStamps true\n@data\n(0,1),(1,2)\n", "timestamps"),
    ("@classLabel true a b\n@data\n", "no series after"),
])
def test_read_ts_malformed(tmp_path, text, message):
    with pytest.raises(ValueError, match=message):
        read_ts(write(tmp_path, text))


def test_read_ts_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_ts(tmp_path / "absent.ts")


def test_read_stream_csv_rate_labels_and_gaps(tmp_path):
    lines = ["timestamp,a,b,is_anomaly"]
    for i in range(8):
        stamp = f"1970-01-01 00:00:{i * 0.015625:06.3f}"  # 64 Hz, stamps rounded to ms
        lines.append(f"{stamp},{i},{'' if i == 3 else 2 * i},{int(i >= 6)}")
    stream = read_stream_csv(write(tmp_path, "\n".join(lines) + "\n", "s.csv"))
    assert stream.channel_names == ["a", "b"] and stream.values.shape == (8, 2)
    assert stream.sample_rate == pytest.approx(64, rel=0.02)
    np.testing.assert_array_equal(stream.labels, [0, 0, 0, 0, 0, 0, 1, 1])
    assert np.isnan(stream.values[3, 1])


def test_read_stream_csv_errors(tmp_path):
    with pytest.raises(ValueError, match=r"s.csv:3: column 'a' holds 'oops'"):
        read_stream_csv(write(tmp_path, "a,b\n1,2\noops,3\n", "s.csv"))
    with pytest.raises(ValueError, match="a header and no rows"):
        read_stream_csv(write(tmp_path, "a,b\n", "s.csv"))
    with pytest.raises(ValueError, match="no column 'y'"):
        read_stream_csv(write(tmp_path, "a,b\n1,2\n", "s.csv"), label_column="y")
    with pytest.raises(ValueError, match="3 cells, the header has 2"):
        read_stream_csv(write(tmp_path, "a,b\n1,2,3\n", "s.csv"))


def test_fill_gaps_linear_inside_nearest_at_edges():
    x = np.array([[np.nan, 1], [1, np.nan], [np.nan, 3], [3, 4], [np.nan, 5]], dtype=np.float32)
    filled, count = fill_gaps(x)
    assert count == 4
    np.testing.assert_allclose(filled[:, 0], [1, 1, 2, 3, 3])
    np.testing.assert_allclose(filled[:, 1], [1, 2, 3, 4, 5])
    assert np.isnan(x).sum() == 4  # the input is left intact
    with pytest.raises(ValueError, match="channel 1 has no finite value"):
        fill_gaps(np.array([[1, np.nan], [2, np.nan]]))


def test_non_utf8_ts_and_stream_csv_name_file_and_line(tmp_path):
    from multicl.errors import UserInputError

    ts = tmp_path / "latin.ts"
    ts.write_bytes("@problemName caf\xe9\n@classLabel true a b\n@data\n1,2,3:a\n".encode("latin-1"))
    with pytest.raises(UserInputError, match=r"latin.ts line 1: not valid UTF-8"):
        read_ts(ts)
    stream = tmp_path / "latin.csv"
    stream.write_bytes("x,label\n1,0\n2,caf\xe9\n".encode("latin-1"))
    with pytest.raises(UserInputError, match=r"latin.csv line 3: not valid UTF-8"):
        read_stream_csv(stream)
