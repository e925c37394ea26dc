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


# -- pairs files read by header (issue 14) --------------------------------------------------------
from multicl.errors import UserInputError  # noqa: E402


def test_nli_header_maps_entailment_to_positive_and_contradiction_to_hard_negative(tmp_path):
    path = tmp_path / "nli.csv"
    path.write_text("premise,hypothesis,label\n"
                    "A dog runs,A dog is moving,entailment\n"
                    "A dog runs,A cat sleeps,neutral\n"
                    "A dog runs,No dog runs,contradiction\n"
                    "A man sings,A man makes music,0\n"
                    "A girl reads,Nobody reads,contradiction\n")
    counts: dict[str, int] = {}
    samples = read_pairs(path, counts=counts)
    assert [(s.text, s.positive, s.hard_negative) for s in samples] == [
        ("A dog runs", "A dog is moving", "No dog runs"), ("A man sings", "A man makes music", None)]
    assert all("entailment" not in (s.hard_negative or "") for s in samples)  # never a label as text
    assert counts == {"rows_dropped_nli_neutral": 1, "rows_dropped_nli_contradiction_without_entailment": 1}


def test_nli_bad_label_names_line_and_value(tmp_path):
    path = tmp_path / "nli.tsv"
    path.write_text("premise\thypothesis\tlabel\n\na\tb\tentailment\na\tc\tmaybe\n")
    with pytest.raises(UserInputError, match=r"line 4: NLI label 'maybe'"):
        read_pairs(path)


def test_scored_header_is_refused_in_sup_mode_and_gives_sentences_in_unsup(tmp_path):
    path = tmp_path / "sts.csv"
    path.write_text("sentence1,sentence2,score\nA plane takes off,An air plane is taking off,5.0\nA man plays,A woman cuts,0.5\n")
    with pytest.raises(UserInputError, match="scored-pairs file.*--mode unsup"):
        read_pairs(path, mode="sup")
    assert [s.text for s in read_pairs(path, mode="unsup")] == ["A plane takes off", "An air plane is taking off", "A man plays", "A woman cuts"]
    glue = tmp_path / "glue.tsv"  # GLUE STS-B: the score column is called label
    glue.write_text("sentence1\tsentence2\tlabel\na\tb\t4.5\nc\td\t1.2\n")
    with pytest.raises(UserInputError, match="scored-pairs"):
        read_pairs(glue)


@pytest.mark.parametrize("header", ["question,answer", "query,document", "anchor,positive", "Anchor,Positive,Negative"])
def test_question_answer_and_query_document_headers_are_headers(tmp_path, header):
    path = tmp_path / "qa.csv"
    path.write_text(f"{header}\nwhat is x,x is y,z\nwho,him,her\n" if header.count(",") == 2 else f"{header}\nwhat is x,x is y\nwho,him\n")
    samples = read_pairs(path)
    assert len(samples) == 2 and samples[0].text == "what is x" and samples[0].positive == "x is y"


def test_unknown_header_lists_what_is_understood(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("question,response\nhi,hello\n")
    with pytest.raises(UserInputError, match=r"line 1: header .*unknown columns \['response'\].*premise,hypothesis,label"):
        read_pairs(path)


def test_headerless_file_keeps_positional_rule_and_line_numbers_are_physical(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("a,b\n\nc,d\ne,\n")
    with pytest.raises(UserInputError, match="line 4: empty anchor or positive"):
        read_pairs(path)
    path.write_text("anchor,positive\na,b\nc,d,e\n")
    with pytest.raises(UserInputError, match="line 3: expected 2 columns as in the header, found 3"):
        read_pairs(path)


def test_short_sick_row_and_blank_counts(tmp_path, caplog):
    sick = tmp_path / "sick.txt"
    sick.write_text("pair_ID\tsentence_A\tsentence_B\trelatedness_score\tentailment_judgment\n1\ta\tb\t4.8\tENTAILMENT\n2\tc\n")
    with pytest.raises(UserInputError, match="line 3: expected 5 tab-separated fields"):
        read_sick_triplets(sick)
    text = tmp_path / "s.txt"
    text.write_text("one\n\n\ntwo\n")
    counts: dict[str, int] = {}
    with caplog.at_level("WARNING"):
        read_sentences(text, counts=counts)
    assert counts == {"blank_lines_skipped": 2} and "skipped 2 blank lines" in caplog.text
