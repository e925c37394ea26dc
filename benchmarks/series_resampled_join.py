"""The as-is and the resampled-input TS2Vec joined into one vector: better neighbours, probes kept? (issue 18, dev only).

The rule, written before any run: ``benchmarks/results/series_resampled_join/RULE.md``. Per set and split seed, two
default recipe runs with ``--dev-fraction 0.3`` (on the training file as it is, and on a copy with every series resampled
to the file's longest length), their model folders kept; then the dev series are encoded by each saved model and the
probes scored on ``a``, ``r`` and ``[a, r]``. Writes ``dev.json`` / ``dev.md``.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/series_resampled_join.py --sktime-root <sktime>/datasets/data --work <folder>
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from series_resampled_input import SETS, write_resampled_ts  # noqa: E402

from multicl.api import EmbeddingModel  # noqa: E402
from multicl.data.series_files import read_ts  # noqa: E402
from multicl.eval.report import format_table  # noqa: E402
from multicl.recipes import sequence_contrastive as sc  # noqa: E402
from multicl.recipes._sequence_eval import embedding_scores  # noqa: E402
from multicl.utils.paths import shared_data_dir  # noqa: E402

PROBES = ("1nn", "knn", "linear", "svm")
SPACES = {"as_is": "default (each series as it is)", "resampled": "default, input resampled", "joined": "[as is, resampled] joined"}


def train(train_file: Path, seed: int, out_dir: Path) -> None:
    """One default recipe run on ``train_file``'s dev split, its folder kept (resumes nothing: ``--overwrite``)."""
    sc.cli(["--train-file", str(train_file), "--dev-fraction", "0.3", "--split-seed", str(seed), "--seed", str(seed), "--device", "cpu",
            "--precision", "no", "--dtw-band", "-1", "--out-dir", str(out_dir), "--overwrite"])


def dev_embeddings(model_dir: Path, train_file: Path, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The saved model's embeddings (its saved space, not unit-normalised) of the fit and dev series of ``train_file``."""
    data = read_ts(train_file)
    y = data.label_ids(data.class_names or sorted(set(data.labels)))
    fit, y_fit, dev, y_dev = sc.dev_split(data.series, y, 0.3, seed)
    model = EmbeddingModel.load(model_dir, device="cpu")
    return model.encode(fit, normalize=False), y_fit, model.encode(dev, normalize=False), y_dev


def score_cell(source: Path, copy: Path, seed: int, work: Path) -> dict[str, dict[str, float]]:
    a_fit, y_fit, a_dev, y_dev = dev_embeddings(work / "as_is" / "model", source, seed)
    r_fit, y_fit_r, r_dev, y_dev_r = dev_embeddings(work / "resampled" / "model", copy, seed)
    assert np.array_equal(y_fit, y_fit_r) and np.array_equal(y_dev, y_dev_r), "the two files' dev splits differ"
    spaces = {"as_is": (a_fit, a_dev), "resampled": (r_fit, r_dev),
              "joined": (np.concatenate([a_fit, r_fit], axis=1), np.concatenate([a_dev, r_dev], axis=1))}
    return {name: {p: s[f"dev_{p}_accuracy"] for p in PROBES} for name, (f, d) in spaces.items()
            for s in [embedding_scores(f, y_fit, d, y_dev, 5, "dev")]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared-root", type=Path, default=shared_data_dir() / "timeseries")
    parser.add_argument("--sktime-root", type=Path, required=True)
    parser.add_argument("--split-seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--sets", nargs="+", default=list(SETS), choices=list(SETS))
    parser.add_argument("--work", type=Path, required=True, help="where the runs' folders and the resampled copies go (fresh)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/series_resampled_join"))
    args = parser.parse_args()
    path = args.out / "dev.json"
    results = json.loads(path.read_text()) if path.exists() else {}
    for ds in args.sets:
        source = (args.shared_root if SETS[ds] == "shared" else args.sktime_root) / ds / f"{ds}_TRAIN.ts"
        copy = args.work / f"{ds}_TRAIN_resampled.ts"
        if not copy.exists():
            args.work.mkdir(parents=True, exist_ok=True)
            write_resampled_ts(source, copy)
        for seed in args.split_seeds:
            key = f"{ds}/{seed}"
            if key in results:
                continue
            cell = args.work / ds / str(seed)
            for arm, file in (("as_is", source), ("resampled", copy)):
                train(file, seed, cell / arm)
            results = (json.loads(path.read_text()) if path.exists() else {}) | {key: score_cell(source, copy, seed, cell)}
            path.write_text(json.dumps(results, indent=2, sort_keys=True))
    write_table(results, args)


def write_table(results: dict, args: argparse.Namespace) -> None:
    sets = [ds for ds in SETS if all(f"{ds}/{s}" in results for s in args.split_seeds)]
    rows, means = [], {}
    for space, label in SPACES.items():
        for p in PROBES:
            cells = [np.mean([results[f"{ds}/{s}"][space][p] for s in args.split_seeds]) for ds in sets]
            means[(space, p)] = float(np.mean(cells))
            rows.append([label, p, *[f"{c:.1f}" for c in cells], f"{means[(space, p)]:.2f}"])
    text = format_table(rows, ["space", "probe", *sets, "mean"])
    text += f"\ndev accuracy (30% of each *_TRAIN.ts), mean over split seeds {args.split_seeds} (each also the run's seed)\n"
    for space in ("resampled", "joined"):
        gain = (means[(space, "1nn")] + means[(space, "knn")] - means[("as_is", "1nn")] - means[("as_is", "knn")]) / 2
        text += (f"{space} vs as is: neighbours {gain:+.2f} (rule: > +1.0); SVM {means[(space, 'svm')] - means[('as_is', 'svm')]:+.2f}, "
                 f"linear {means[(space, 'linear')] - means[('as_is', 'linear')]:+.2f} (rule: each >= -0.3)\n")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "dev.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
