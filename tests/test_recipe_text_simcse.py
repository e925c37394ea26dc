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
