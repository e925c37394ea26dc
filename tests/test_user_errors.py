"""A user's mistakes, fed the way a user would: one line on stderr, exit status 2, nothing heavy
loaded first, advice that works; Ctrl-C says how to resume; outputs readable by others (issue 14)."""
from __future__ import annotations

import json
import os
import stat

import numpy as np
import pytest

from multicl.errors import UserInputError


def _exit(capsys, cli, argv):
    """What ``python -m multicl.recipes.X ARGV`` does: exit status and stderr."""
    from multicl.recipes._cli import console_main

    code = console_main(cli, argv)
    return code, capsys.readouterr().err


def test_user_input_error_is_a_value_error():
    assert issubclass(UserInputError, ValueError)


def test_batch_size_one_is_refused_before_anything_is_loaded_and_no_config_written(tmp_path, capsys, monkeypatch):
    from multicl.recipes import text_simcse

    monkeypatch.setattr(text_simcse.TextAdapter, "from_pretrained", lambda *a, **k: pytest.fail("model loaded before the check"))
    out = tmp_path / "run"
    code, err = _exit(capsys, text_simcse.cli, ["--batch-size", "1", "--out-dir", str(out)])
    assert code == 2 and "--batch-size 2 or more" in err and "Traceback" not in err
    assert err.splitlines()[0].startswith("error: ") and not (out / "config.json").exists()


def test_debug_shows_the_traceback(tmp_path):
    from multicl.recipes import text_simcse
    from multicl.recipes._cli import console_main

    with pytest.raises(UserInputError, match="--batch-size"):
        console_main(text_simcse.cli, ["--batch-size", "1", "--out-dir", str(tmp_path / "run"), "--debug"])


def test_missing_train_file_and_bad_view_are_one_line_errors(tmp_path, capsys):
    from multicl.recipes import text_simcse

    code, err = _exit(capsys, text_simcse.cli, ["--train-file", str(tmp_path / "nope.csv"), "--out-dir", str(tmp_path / "r")])
    assert code == 2 and "nope.csv: no such file" in err
    code, err = _exit(capsys, text_simcse.cli, ["--views", "dropuot", "--out-dir", str(tmp_path / "r")])
    assert code == 2 and "choose from dropout" in err


def test_scored_file_in_sup_mode_exits_2_before_the_model_loads(tmp_path, capsys, monkeypatch):
    from multicl.recipes import text_simcse

    monkeypatch.setattr(text_simcse.TextAdapter, "from_pretrained", lambda *a, **k: pytest.fail("model loaded"))
    sts = tmp_path / "sts.csv"
    sts.write_text("sentence1,sentence2,score\n" + "".join(f"s{i},t{i},{i % 5}.0\n" for i in range(40)))
    code, err = _exit(capsys, text_simcse.cli, ["--mode", "sup", "--train-file", str(sts), "--out-dir", str(tmp_path / "r")])
    assert code == 2 and "scored-pairs file" in err and "--mode unsup" in err


def test_nli_header_trains_entailment_as_positive_in_the_recipe(tmp_path):
    from multicl.recipes.text_simcse import Config, load_training_samples

    nli = tmp_path / "nli.csv"
    nli.write_text("premise,hypothesis,label\nA dog runs,A dog moves,entailment\nA dog runs,No dog runs,contradiction\n"
                   "A dog runs,It is sunny,neutral\n")
    counts: dict[str, int] = {}
    samples = load_training_samples(Config(mode="sup", train_file=str(nli)), counts)
    assert [(s.text, s.positive, s.hard_negative) for s in samples] == [("A dog runs", "A dog moves", "No dog runs")]
    assert counts["rows_dropped_nli_neutral"] == 1


def test_too_few_samples_advice_names_a_working_batch_size(tmp_path, capsys, monkeypatch):
    from multicl.recipes import text_simcse

    monkeypatch.setattr(text_simcse.TextAdapter, "from_pretrained", lambda *a, **k: pytest.fail("model loaded"))
    corpus = tmp_path / "s.txt"
    corpus.write_text("one sentence\n")
    code, err = _exit(capsys, text_simcse.cli, ["--mode", "unsup", "--train-file", str(corpus), "--out-dir", str(tmp_path / "r")])
    assert code == 2 and "needs at least 2 (add data)" in err and "batch-size 1" not in err
    corpus.write_text("a\nb\nc\n")
    code, err = _exit(capsys, text_simcse.cli, ["--mode", "unsup", "--train-file", str(corpus), "--out-dir", str(tmp_path / "r2")])
    assert code == 2 and "--batch-size between 2 and 3" in err


def test_label_fraction_above_one_is_refused_first(tmp_path, capsys):
    from multicl.recipes import security_threat

    code, err = _exit(capsys, security_threat.cli, ["--label-fractions", "1.5", "--out-dir", str(tmp_path / "r")])
    assert code == 2 and "--label-fractions 1.5" in err and "(0, 1]" in err and not (tmp_path / "r").exists()


def _kdd_like(path, n, typo_line=None, empty_label_line=None):
    rng = np.random.default_rng(0)
    lines = ["duration,bytes,proto,label"]
    for i in range(n):
        lines.append(f"{rng.exponential(2):.3f},{rng.integers(0, 5000)},{rng.choice(['tcp', 'udp'])},{'normal' if i % 2 else 'attack'}")
    if typo_line:
        cells = lines[typo_line - 1].split(",")
        cells[1] = "abc"
        lines[typo_line - 1] = ",".join(cells)
    if empty_label_line:
        lines[empty_label_line - 1] = lines[empty_label_line - 1].rsplit(",", 1)[0] + ","
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("where", ["train", "test"])
def test_security_recipe_non_number_in_numeric_column_names_file_line_value(tmp_path, capsys, where):
    from multicl.recipes import security_threat

    train = _kdd_like(tmp_path / "train.csv", 400, typo_line=101 if where == "train" else None)
    test = _kdd_like(tmp_path / "test.csv", 50, typo_line=7 if where == "test" else None)
    code, err = _exit(capsys, security_threat.cli, ["--train-file", str(train), "--test-file", str(test), "--out-dir", str(tmp_path / "r")])
    line = 101 if where == "train" else 7
    assert code == 2 and f"{where}.csv line {line}, numeric column 'bytes': 'abc' is not a number" in err


def test_security_recipe_empty_label_cell_names_the_line(tmp_path, capsys):
    from multicl.recipes import security_threat

    train = _kdd_like(tmp_path / "train.csv", 60, empty_label_line=9)
    test = _kdd_like(tmp_path / "test.csv", 20)
    code, err = _exit(capsys, security_threat.cli, ["--train-file", str(train), "--test-file", str(test), "--out-dir", str(tmp_path / "r")])
    assert code == 2 and "train.csv line 9: empty 'label' cell" in err


def test_audio_test_set_without_a_shared_label_is_an_error(tmp_path, capsys):
    import soundfile as sf

    from multicl.recipes import audio_contrastive

    wave = (0.3 * np.sin(np.arange(4000) / 5)).astype(np.float32)
    (tmp_path / "train").mkdir()
    (tmp_path / "test").mkdir()
    for i in range(4):
        sf.write(tmp_path / "train" / f"{i % 2}_amy_{i}.wav", wave, 8000)
        sf.write(tmp_path / "test" / f"{i % 2 + 5}_bob_{i}.wav", wave, 8000)
    code, err = _exit(capsys, audio_contrastive.cli, ["--data-dir", str(tmp_path / "train"), "--test-dir", str(tmp_path / "test"),
                                                      "--batch-size", "2", "--out-dir", str(tmp_path / "r")])
    assert code == 2 and "share no label" in err and "['0', '1']" in err


def test_ctrl_c_says_which_checkpoint_and_how_to_resume(tmp_path, capsys):
    import dataclasses

    from multicl.recipes._cli import console_main, run_cli

    @dataclasses.dataclass(frozen=True)
    class Config:
        out_dir: str = str(tmp_path / "run")

    def main(cfg):
        (tmp_path / "run" / "pretrain" / "checkpoints" / "step_000040").mkdir(parents=True)
        raise KeyboardInterrupt

    code = console_main(lambda argv: run_cli(main, Config, argv, "toy"), [])
    err = capsys.readouterr().err
    assert code == 130 and "step_000040" in err and "Run the same command again to resume" in err


def test_outputs_get_the_umask_permissions(tmp_path):
    from multicl.utils.io import atomic_write_json, replace_directory

    old = os.umask(0o022)
    try:
        atomic_write_json(tmp_path / "metrics.json", {"a": 1})
        replace_directory(lambda folder: (folder / "weights.bin").write_bytes(b"x"), tmp_path / "model")
        assert stat.S_IMODE((tmp_path / "metrics.json").stat().st_mode) == 0o644
        assert stat.S_IMODE((tmp_path / "model").stat().st_mode) == 0o755
        assert stat.S_IMODE((tmp_path / "model" / "weights.bin").stat().st_mode) == 0o644
        os.umask(0o077)
        atomic_write_json(tmp_path / "private.json", {"a": 1})
        assert stat.S_IMODE((tmp_path / "private.json").stat().st_mode) == 0o600
    finally:
        os.umask(old)
    assert json.loads((tmp_path / "metrics.json").read_text()) == {"a": 1}


@pytest.mark.slow
def test_python_m_recipe_exits_2_with_one_line(tmp_path):
    import subprocess
    import sys

    run = subprocess.run([sys.executable, "-m", "multicl.recipes.security_threat", "--batch-size", "1", "--out-dir", str(tmp_path / "r")],
                         capture_output=True, text=True, timeout=120, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert run.returncode == 2 and run.stderr.startswith("error: --batch-size 1") and "Traceback" not in run.stderr


def test_audio_test_fraction_is_refused_before_any_clip_is_read(tmp_path, capsys, monkeypatch):
    from multicl.recipes import audio_contrastive

    monkeypatch.setattr(audio_contrastive, "read_clips", lambda *a, **k: pytest.fail("clips read before the check"))
    code, err = _exit(capsys, audio_contrastive.cli, ["--data-dir", str(tmp_path), "--test-fraction", "1.5", "--out-dir", str(tmp_path / "r")])
    assert code == 2 and "--test-fraction 1.5" in err and "(0, 1)" in err and not (tmp_path / "r").exists()


def test_audio_class_folders_no_longer_end_in_zero_training_clips(tmp_path, capsys):
    import soundfile as sf

    from multicl.recipes import audio_contrastive

    for name in ("yes", "no"):
        (tmp_path / "data" / name).mkdir(parents=True)
        for i in range(3):
            sf.write(tmp_path / "data" / name / f"{name}{i}.wav", (0.3 * np.sin(np.arange(800) / (3 + i))).astype(np.float32), 8000)
    code, err = _exit(capsys, audio_contrastive.cli, ["--data-dir", str(tmp_path / "data"), "--split", "take", "--out-dir", str(tmp_path / "r")])
    assert code == 2 and "use --split random" in err and not (tmp_path / "r" / "config.json").exists()
    train, test, _ = audio_contrastive.load_data(audio_contrastive.Config(data_dir=str(tmp_path / "data"), split="random", batch_size=2))
    assert (len(train), len(test)) == (4, 2)  # the advice, followed


def test_lone_surrogate_in_a_training_file_names_line_and_the_fix_works(tmp_path, capsys, monkeypatch):
    import shlex
    import subprocess
    import sys

    from multicl.data.text_files import read_sentences
    from multicl.recipes import text_simcse

    monkeypatch.setattr(text_simcse.TextAdapter, "from_pretrained", lambda *a, **k: pytest.fail("model loaded"))
    corpus = tmp_path / "corpus.txt"
    corpus.write_bytes(b"first sentence\nsecond sentence\ncaf\xed\xb3\xa9 au lait\n")  # WTF-8: an encoded lone surrogate U+DCE9
    code, err = _exit(capsys, text_simcse.cli, ["--mode", "unsup", "--train-file", str(corpus), "--batch-size", "2", "--out-dir", str(tmp_path / "r")])
    assert code == 2 and "corpus.txt line 3: not valid UTF-8 (byte 4 of the line" in err and "lone surrogate" in err
    command = err.split("`")[1]  # the printed fix, run as printed from the file's folder
    subprocess.run(shlex.split(command.replace("python", shlex.quote(sys.executable), 1)), cwd=tmp_path, check=True)
    assert read_sentences(tmp_path / "corpus.txt.fixed")[2].startswith("caf")


def test_every_flag_a_recipe_message_advises_is_one_of_its_options():
    """Advice that works when followed starts with a flag that exists: every ``--flag`` named in a
    recipe's code (past its module doc) is an option of that recipe (pip's ``--no-deps`` aside)."""
    import importlib
    import pathlib
    import re

    from multicl.recipes._cli import parser_for

    for path in sorted(pathlib.Path(importlib.import_module("multicl.recipes").__file__).parent.glob("[!_]*.py")):
        module = importlib.import_module(f"multicl.recipes.{path.stem}")
        if not hasattr(module, "Config"):
            continue
        options = set(parser_for(module.Config, "")._option_string_actions) | {"--debug", "--no-deps"}
        code = path.read_text().split('"""', 2)[2]
        assert not sorted(set(re.findall(r"--[a-z][a-z0-9-]+", code)) - options), path.stem


def test_security_recipe_with_a_bad_cell_leaves_no_run_behind_so_the_fixed_rerun_starts(tmp_path):
    """The user fixes the file in place and runs the same command again: it must not be refused."""
    from multicl.recipes import security_threat

    row = "0,tcp,http,SF,{b},0,0,0,0,0,0,1,0,0,0,0,0,0,0,0,0,0,1,1,0.00,0.00,0.00,0.00,1.00,0.00,0.00,9,9,1.00,0.00,0.11,0.00,0.00,0.00,0.00,0.00,normal,21"
    train = tmp_path / "train.txt"
    train.write_text(row.format(b=1) + "\n" + row.format(b="abc") + "\n")
    out = tmp_path / "run"
    with pytest.raises(UserInputError, match="line 2, numeric column 'src_bytes'"):
        security_threat.cli(["--train-file", str(train), "--test-file", str(train), "--out-dir", str(out)])
    assert not (out / "config.json").exists() and not (out / "run_identity.json").exists()


def test_series_join_weight_must_be_positive_and_is_refused_first(tmp_path, capsys):
    from multicl.recipes import sequence_contrastive

    code, err = _exit(capsys, sequence_contrastive.cli, ["--resampled-join-weight", "0", "--out-dir", str(tmp_path / "r")])
    assert code == 2 and "--resampled-join-weight 0" in err and "> 0" in err and not (tmp_path / "r").exists()
