import pytest

from multicl.data.text_files import read_pairs, read_sentences, read_sick_triplets, read_sts


def test_sentences_skip_blank_lines_and_leipzig_ids(tmp_path):
    path = tmp_path / "s.txt"
    path.write_text("1\tFirst sentence.\n\n   \n2\tSecond one.\nplain line\n")
    assert read_sentences(path) == ["First sentence.", "Second one.", "plain line"]


def test_empty_and_whitespace_corpus_is_an_error(tmp_path):
    path = tmp_path / "empty.txt"
    path.write_text("  \n\n")
    with pytest.raises(ValueError, match="corpus is empty"):
        read_sentences(path)


def test_non_utf8_file_is_named(tmp_path):
    path = tmp_path / "latin.txt"
    path.write_bytes("caf\xe9 au lait\n".encode("latin-1"))
    with pytest.raises(ValueError, match="not valid UTF-8"):
        read_sentences(path)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.txt"):
        read_sentences(tmp_path / "nope.txt")


def test_sts_formats(tmp_path):
    stsb = tmp_path / "sts.csv"
    stsb.write_text('g\tf\t2012\t0001\t4.5\tA "quoted sentence.\tAnother one.\ng\tf\t2012\t2\t1.0\tX\tY\textra\tcols\n')
    pairs = read_sts(stsb)
    assert pairs[0].score == 4.5 and pairs[0].sentence1 == 'A "quoted sentence.' and pairs[1].sentence2 == "Y"
    sick = tmp_path / "sick.txt"
    sick.write_text("pair_ID\tsentence_A\tsentence_B\trelatedness_score\tentailment_judgment\n1\ta\tb\t4.2\tNEUTRAL\n2\tc\td\t1.5\tCONTRADICTION\n")
    assert [p.score for p in read_sts(sick)] == [4.2, 1.5]


def test_sts_wrong_columns(tmp_path):
    bad = tmp_path / "bad.tsv"
    bad.write_text("only\ttwo\n")
    with pytest.raises(ValueError, match="expected an STS-B row"):
        read_sts(bad)
    bad.write_text("g\tf\t2012\t1\tnot-a-score\ta\tb\n")
    with pytest.raises(ValueError, match="not a number"):
        read_sts(bad)


def test_pairs_and_triplets(tmp_path):
    path = tmp_path / "pairs.csv"
    path.write_text("sent0,sent1,hard_neg\na,b,c\nd,e,\n")
    samples = read_pairs(path)
    assert samples[0].hard_negative == "c" and samples[1].hard_negative is None
    path.write_text("a,b,c,d\n")
    with pytest.raises(ValueError, match="expected 2 columns"):
        read_pairs(path)


def test_sick_triplets(tmp_path):
    sick = tmp_path / "sick.txt"
    sick.write_text(
        "pair_ID\tsentence_A\tsentence_B\trelatedness_score\tentailment_judgment\n"
        "1\tA dog runs\tA dog is running\t4.8\tENTAILMENT\n"
        "2\tA dog runs\tNo dog runs\t3.0\tCONTRADICTION\n"
        "3\tA man sings\tA man is singing\t4.9\tENTAILMENT\n"
        "4\tA cat sleeps\tNo cat sleeps\t3.1\tCONTRADICTION\n"
    )
    samples = read_sick_triplets(sick)
    assert samples[0].hard_negative == "No dog runs"
    assert samples[1].hard_negative in {"No dog runs", "A dog runs", "No cat sleeps", "A cat sleeps"}
    assert read_sick_triplets(sick, fill_missing="none")[1].hard_negative is None
    assert len(read_sick_triplets(sick, fill_missing="drop")) == 1
