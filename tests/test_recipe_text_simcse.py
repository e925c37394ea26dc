"""Recipe smoke runs on tiny models and small synthetic files (fast suite)."""
import json

import pytest

from multicl import EmbeddingModel
from multicl.recipes import text_simcse


def write_files(tmp_path):
    sentences = tmp_path / "train.txt"
    sentences.write_text("\n".join(f"the {c} {a} runs across the {p}" for c in ["red", "blue", "green", "small"] for a in ["dog", "cat", "horse"] for p in ["field", "road"]) + "\n\n")
    dev = tmp_path / "dev.tsv"
    dev.write_text("".join(f"g\tf\t2012\t{i}\t{i % 5}.0\tthe red dog runs {i}\ta blue cat sleeps {i}\n" for i in range(8)))
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("sent0,sent1,hard_neg\n" + "".join(f"a dog number {i},the dog {i},no dog {i}\n" for i in range(12)))
    return sentences, dev, pairs


def run(tmp_path, model, **kw):
    kw.setdefault("mode", "unsup")
    cfg = text_simcse.Config(model=model, out_dir=str(tmp_path / "out"), device="cpu", max_steps=4, batch_size=4, eval_every=2, max_length=16, **kw)
    return text_simcse.main(cfg)


def test_unsup_smoke_writes_all_outputs(tiny_text_model, tmp_path, capsys):
    sentences, dev, _ = write_files(tmp_path)
    metrics = run(tmp_path, tiny_text_model, train_file=str(sentences), dev_file=(str(dev),), test_file=("demo",))
    out = tmp_path / "out"
    for name in ("config.json", "metrics.json", "metrics.jsonl", "training_curve.png", "model/modules.json", "model/multicl.json"):
        assert (out / name).exists(), name
    assert set(json.loads((out / "metrics.json").read_text())) == set(metrics)
    assert "before_dev_spearman_cosine" in metrics and "after_demo_sts_spearman_cosine" in metrics
    assert "before" in capsys.readouterr().out
    assert EmbeddingModel.load(out / "model").encode(["x"]).shape == (1, 32)


def test_sup_with_triplets_and_views(tiny_text_model, tmp_path):
    sentences, dev, pairs = write_files(tmp_path)
    metrics = run(tmp_path, tiny_text_model, mode="sup", train_file=str(pairs), dev_file=(str(dev),))
    assert metrics["best_step"] in (0, 2, 4)
    metrics = run(tmp_path / "v", tiny_text_model, train_file=str(sentences), dev_file=(str(dev),), views=("dropout", "word_swap", "keyboard"))
    assert metrics["train_seconds"] > 0


def test_bad_inputs(tiny_text_model, tmp_path):
    sentences, dev, pairs = write_files(tmp_path)
    with pytest.raises(ValueError, match="--mode sup needs pairs"):
        run(tmp_path, tiny_text_model, mode="sup", train_file=str(sentences), dev_file=(str(dev),))
    small = tmp_path / "small.txt"
    small.write_text("one\ntwo\n")
    with pytest.raises(ValueError, match="fewer than one batch"):
        run(tmp_path / "s", tiny_text_model, train_file=str(small), dev_file=(str(dev),))
    assert not (tmp_path / "s" / "out" / "model").exists()
    wrong = tmp_path / "wrong.tsv"
    wrong.write_text("a\tb\n")
    with pytest.raises(ValueError, match="expected an STS-B row"):
        run(tmp_path / "w", tiny_text_model, train_file=str(sentences), dev_file=(str(wrong),))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        run(tmp_path / "m", str(tmp_path / "missing-model"), train_file=str(sentences), dev_file=(str(dev),))


def test_cli_help_works_offline(capsys):
    with pytest.raises(SystemExit) as exit_info:
        text_simcse.cli(["--help"])
    assert exit_info.value.code == 0
    assert "--temperature" in capsys.readouterr().out


def test_rerun_reuses_a_finished_run_and_says_so(tiny_text_model, tmp_path, capsys):
    sentences, dev, _ = write_files(tmp_path)
    first = run(tmp_path, tiny_text_model, train_file=str(sentences), dev_file=(str(dev),))
    capsys.readouterr()
    second = run(tmp_path, tiny_text_model, train_file=str(sentences), dev_file=(str(dev),))
    assert "already holds a finished run" in capsys.readouterr().out
    assert second["after_dev_spearman_cosine"] == pytest.approx(first["after_dev_spearman_cosine"])


# -- --mode scored (issue 19) -------------------------------------------------------------------------
def write_scored(tmp_path):
    stsb = tmp_path / "sts-train.csv"  # STS-B layout: genre, file, year, id, score, s1, s2 (tabs)
    stsb.write_text("".join(f"main-captions\tMSRvid\t2012test\t{i:04d}\t{i % 6}.000\ta man plays the {i} guitar\t"
                            f"{'a man plays the guitar' if i % 6 > 3 else 'a dog eats food'} {i}\n" for i in range(16)))
    sick = tmp_path / "SICK_train.txt"
    sick.write_text("pair_ID\tsentence_A\tsentence_B\trelatedness_score\tentailment_judgment\n" + "".join(
        f"{i}\tthe cat number {i} sleeps\t{'the cat sleeps' if i % 2 else 'a car drives'} {i}\t{1 + (i % 5)}.0\tNEUTRAL\n" for i in range(12)))
    header = tmp_path / "scored.csv"
    header.write_text("sentence1,sentence2,score\n" + "".join(f"dog {i},a dog {i},{i / 10}\n" for i in range(10)))
    return stsb, sick, header


@pytest.mark.parametrize("objective", ["cosent", "angle", "cosine_regression"])
def test_scored_mode_trains_on_stsb_layout(tiny_text_model, tmp_path, objective):
    stsb, _, _ = write_scored(tmp_path)
    _, dev, _ = write_files(tmp_path)
    metrics = run(tmp_path, tiny_text_model, mode="scored", objective=objective, train_file=str(stsb), dev_file=(str(dev),))
    assert metrics["best_step"] in (0, 2, 4) and "after_dev_spearman_cosine" in metrics
    assert EmbeddingModel.load(tmp_path / "out" / "model").encode(["x"]).shape == (1, 32)


def test_scored_mode_reads_sick_and_headed_files_and_matryoshka(tiny_text_model, tmp_path):
    from multicl.modalities.scored_text import normalise_scores, read_scored_pairs

    stsb, sick, header = write_scored(tmp_path)
    pairs = read_scored_pairs(sick)
    assert len(pairs) == 12 and pairs[1].score == 2.0 and pairs[0].text == "the cat number 0 sleeps"
    assert [p.score for p in normalise_scores(pairs)][:5] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert len(read_scored_pairs(header)) == 10 and read_scored_pairs(stsb)[5].score == 5.0
    _, dev, _ = write_files(tmp_path)
    metrics = run(tmp_path, tiny_text_model, mode="scored", train_file=str(sick), dev_file=(str(dev),), matryoshka_dims=(32, 16, 8))
    assert "after_dev_spearman_cosine" in metrics
    model = EmbeddingModel.load(tmp_path / "out" / "model")
    assert model.encode(["x", "y"], truncate_dim=8).shape == (2, 8)


def test_scored_mode_bad_inputs(tiny_text_model, tmp_path):
    from multicl.errors import UserInputError

    stsb, _, _ = write_scored(tmp_path)
    _, dev, pairs = write_files(tmp_path)
    with pytest.raises(UserInputError, match="cosent, angle or cosine_regression"):
        text_simcse.check_args(text_simcse.Config(mode="scored", objective="info_nce"))
    with pytest.raises(UserInputError, match="--mode scored"):
        text_simcse.check_args(text_simcse.Config(mode="sup", objective="cosent"))
    with pytest.raises(UserInputError, match="score column"):
        run(tmp_path, tiny_text_model, mode="scored", train_file=str(pairs), dev_file=(str(dev),))
    with pytest.raises(UserInputError, match="matryoshka-dims 64 exceeds"):
        run(tmp_path / "m", tiny_text_model, mode="scored", train_file=str(stsb), dev_file=(str(dev),), matryoshka_dims=(64, 8))
    # the sup reader still refuses a scored file and points elsewhere (existing behaviour kept)
    with pytest.raises(UserInputError, match="scored-pairs file"):
        run(tmp_path / "s", tiny_text_model, mode="sup", train_file=str(tmp_path / "scored.csv"), dev_file=(str(dev),))


def test_scored_mode_embedded_demo_scores_held_out_pairs_first(tiny_text_model, tmp_path):
    from multicl.modalities.scored_text import read_scored_pairs

    train = read_scored_pairs(text_simcse._demo_path(text_simcse.DEMO_SCORED))
    dev = read_scored_pairs(text_simcse._demo_path(text_simcse.DEMO_SCORED_DEV))
    assert len(train) >= 400 and len(dev) >= 100
    words = lambda pairs: {w for p in pairs for s in (p.text, p.positive) for w in s.lower().strip(".").split()}
    people = {"nurse", "doctor", "teacher", "engineer", "soldier", "artist"}
    assert not (words(train) & words(dev) & people)  # held-out people (and verbs) never trained on
    metrics = run(tmp_path, tiny_text_model, mode="scored")
    assert "after_demo_scored_dev_spearman_cosine" in metrics and "after_demo_sts_spearman_cosine" in metrics
    assert list(metrics)[0] == "before_demo_scored_dev_spearman_cosine"  # the held-out pairs select the model
