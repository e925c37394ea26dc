"""The resampled block's weight in the saved join `[a, w * r]`: better neighbours on variable-length sets? (issue 18).

The rule, written before any run: ``benchmarks/results/series_join_weight/RULE.md``. Per set and split seed one
default recipe run with ``--dev-fraction 0.3`` (its model folder kept under ``--work``); the fit and dev series are
encoded by the saved joined model (``normalize=False``), cut into the as-is and resampled blocks and scored for every
weight. Each cell writes ``<work>/<set>/<seed>/scores.json`` (so several processes can share one ``--work``);
``--table`` merges them into ``dev.json`` / ``dev.md``. ``--stage test --runs <out dirs>``: the same scoring on test
runs of the recipe (trained on the whole *_TRAIN.ts), for the record.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/series_join_weight.py --sktime-root <sktime>/datasets/data --work <folder> [--sets ..] [--split-seeds ..]
    .venv/bin/python benchmarks/series_join_weight.py --sktime-root <sktime>/datasets/data --work <folder> --table
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/series_join_weight.py --stage test --runs <recipe out dirs> --out <folder>
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from multicl.api import EmbeddingModel
from multicl.data.series_readers import default_test_path, read_series_set
from multicl.eval.report import format_table
from multicl.recipes import sequence_contrastive as sc
from multicl.recipes._sequence_eval import embedding_scores
from multicl.utils.paths import shared_data_dir

SETS = {"JapaneseVowels": "sktime", "PickupGestureWiimoteZ": "shared", "PLAID": "sktime"}
PROBES = ("1nn", "knn", "linear", "svm")
WEIGHTS = (0.5, 1.0, 1.5, 2.0, 3.0)  # the fifteenth session's grid; `--weights` sets another (w = 1 is always scored)


def blocks(model: EmbeddingModel, series: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The saved join's two blocks (as is, resampled) of ``series``, before any unit normalisation."""
    z = model.encode(series, normalize=False)
    cut = model.encoder.as_is.embed_dim
    return z[:, :cut], z[:, cut:]


def score_weights(model_dir: Path, fit: list, y_fit: np.ndarray, evaluated: list, y_eval: np.ndarray,
                  weights: tuple[float, ...]) -> dict[str, dict[str, float]]:
    """{"w<weight>": {probe: accuracy}} for every weight, plus "as_is" and "resampled" (each block alone)."""
    model = EmbeddingModel.load(model_dir, device="cpu")
    (a_fit, r_fit), (a_eval, r_eval) = blocks(model, fit), blocks(model, evaluated)
    spaces = {f"w{w:g}": (np.concatenate([a_fit, w * r_fit], 1), np.concatenate([a_eval, w * r_eval], 1)) for w in weights}
    spaces |= {"as_is": (a_fit, a_eval), "resampled": (r_fit, r_eval)}
    return {name: {p: s[f"x_{p}_accuracy"] for p in PROBES} for name, (f, e) in spaces.items()
            for s in [embedding_scores(f, y_fit, e, y_eval, 5, "x")]}


def dev_cell(train_file: Path, seed: int, cell: Path, weights: tuple[float, ...]) -> dict[str, dict[str, float]]:
    sc.cli(["--train-file", str(train_file), "--dev-fraction", "0.3", "--split-seed", str(seed), "--seed", str(seed), "--device", "cpu",
            "--precision", "no", "--dtw-band", "-1", "--out-dir", str(cell / "run"), "--overwrite"])
    data = read_series_set(train_file)
    y = data.label_ids(data.class_names or sorted(set(data.labels)))
    fit, y_fit, dev, y_dev = sc.dev_split(data.series, y, 0.3, seed)
    return score_weights(cell / "run" / "model", fit, y_fit, dev, y_dev, weights)


def test_cell(run: Path, weights: tuple[float, ...]) -> dict[str, dict[str, float]]:
    config = json.loads((run / "config.json").read_text())
    train = read_series_set(config["train_file"])
    test = read_series_set(config["test_file"] or default_test_path(config["train_file"]))
    names = train.class_names or sorted(set(train.labels))
    return score_weights(run / "model", train.series, train.label_ids(names), test.series, test.label_ids(names), weights)


def write_table(results: dict[str, dict], sets: list[str], seeds: list[int], out: Path, split: str,
                weights: tuple[float, ...]) -> None:
    rows, means = [], {}
    for space in ["as_is", "resampled", *(f"w{w:g}" for w in weights)]:
        for p in PROBES:
            cells = [np.mean([results[f"{ds}/{s}"][space][p] for s in seeds]) for ds in sets]
            means[(space, p)] = float(np.mean(cells))
            rows.append([space + (" (default)" if space == "w1" else ""), p, *[f"{c:.1f}" for c in cells], f"{means[(space, p)]:.2f}"])
    text = format_table(rows, ["space", "probe", *sets, "mean"])
    text += f"\n{split} accuracy, mean over seeds {seeds}; `w<x>` = [as is, x * resampled]\n"
    base = (means[("w1", "1nn")] + means[("w1", "knn")]) / 2
    for w in weights:
        if w == 1.0:
            continue
        key = f"w{w:g}"
        gain = (means[(key, "1nn")] + means[(key, "knn")]) / 2 - base
        svm, linear = means[(key, "svm")] - means[("w1", "svm")], means[(key, "linear")] - means[("w1", "linear")]
        verdict = "passes" if gain > 1.0 and svm >= -0.3 and linear >= -0.3 else "fails"
        text += f"{key} vs w1: neighbours {gain:+.2f} (rule: > +1.0); SVM {svm:+.2f}, linear {linear:+.2f} (rule: each >= -0.3): {verdict}\n"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{split}.json").write_text(json.dumps(results, indent=2, sort_keys=True))
    (out / f"{split}.md").write_text(text)
    print(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stage", choices=("dev", "test"), default="dev")
    parser.add_argument("--shared-root", type=Path, default=shared_data_dir() / "timeseries")
    parser.add_argument("--sktime-root", type=Path)
    parser.add_argument("--split-seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--sets", nargs="+", default=list(SETS), choices=list(SETS))
    parser.add_argument("--work", type=Path, help="dev: where the runs and per-cell scores go (fresh)")
    parser.add_argument("--table", action="store_true", help="dev: merge the cells' scores into the table (no runs)")
    parser.add_argument("--runs", type=Path, nargs="+", help="test: recipe out dirs (trained on a whole *_TRAIN file)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/series_join_weight"))
    parser.add_argument("--weights", type=float, nargs="+", default=list(WEIGHTS),
                        help="weights w of the resampled block in [a, w * r] (w = 1, the default join, is always added); "
                             "the seventeenth session's study: --weights 5 10 --out benchmarks/results/series_join_weight_large")
    args = parser.parse_args()
    weights = tuple(sorted({1.0, *args.weights}))
    if args.stage == "test":
        results, keys = {}, []
        for run in args.runs:
            config = json.loads((run / "config.json").read_text())
            key = f"{Path(config['train_file']).name.split('_TRAIN')[0]}/{config['seed']}"
            results[key] = test_cell(run, weights)
            keys.append(key)
        sets = list(dict.fromkeys(k.split("/")[0] for k in keys))
        seeds = sorted({int(k.split("/")[1]) for k in keys})
        write_table(results, sets, seeds, args.out, "test", weights)
        return
    if not args.table:
        for ds in args.sets:
            source = (args.shared_root if SETS[ds] == "shared" else args.sktime_root) / ds / f"{ds}_TRAIN.ts"
            for seed in args.split_seeds:
                cell = args.work / ds / str(seed)
                if (cell / "scores.json").exists():
                    continue
                scores = dev_cell(source, seed, cell, weights)
                (cell / "scores.json").write_text(json.dumps(scores, indent=2, sort_keys=True))
    results = {f"{ds}/{s}": json.loads((args.work / ds / str(s) / "scores.json").read_text())
               for ds in args.sets for s in args.split_seeds if (args.work / ds / str(s) / "scores.json").exists()}
    sets = [ds for ds in args.sets if all(f"{ds}/{s}" in results for s in args.split_seeds)]
    if sets:
        write_table(results, sets, args.split_seeds, args.out, "dev", weights)


if __name__ == "__main__":
    main()
