"""The sequence recipe's default on UEA/UCR sets it was never tuned on: dev splits first, then test (issue 18).

Beyond ``../shared/data/timeseries`` the sktime wheel carries more UEA/UCR sets (JapaneseVowels: 12 channels,
variable lengths 7-29, 9 speakers; ArrowHead, ItalyPowerDemand, OSULeaf: univariate); extract them anywhere
(``unzip sktime-*.whl 'sktime/datasets/data/*'``; UEA/UCR licence: free for research, cite Dau et al. 2019 /
Bagnall et al. 2018; never commit them) and pass ``--data-root`` (one folder per set holding ``<set>_TRAIN.ts`` /
``<set>_TEST.ts``).

Every run is the recipe's defaults (TS2Vec, 200 steps) with ``--fuse-raw-weight 0.5``, so one run gives TS2Vec
alone (the default's saved model) and the fused ``[z-scored TS2Vec, 0.5 x raw series]`` option side by side, with the
raw baselines (euclidean 1-NN, DTW 1-NN, 5-NN, logistic regression, RBF SVM) and the random-init encoder.

* ``--stage dev``: ``--dev-fraction 0.3`` of each *_TRAIN.ts (split seeds ``--split-seeds``, each also the run's
  seed); no *_TEST.ts is read.
* ``--stage test``: train -> test with ``--seeds``; mean ± std over seeds (ddof=1).

Every run writes into a fresh temporary folder with ``--overwrite``. Writes ``<out>/<stage>.json`` and ``<stage>.md``.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/series_extra_sets.py --data-root /path/to/sets --stage dev --split-seeds 0 1 2
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/series_extra_sets.py --data-root /path/to/sets --stage test --seeds 0 1 2
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from series_ts2vec import mean_std, run  # noqa: E402  (one fresh temporary out dir per run, --overwrite)

from multicl.eval.report import format_table  # noqa: E402
from multicl.utils.environment import run_environment  # noqa: E402

SETS = ("JapaneseVowels", "ArrowHead", "ItalyPowerDemand", "OSULeaf")
ROWS = {  # table row -> (1-NN key, kNN key, linear key, SVM key) after the split prefix; None: not measured
    "raw series (euclidean)": ("raw_1nn", "raw_knn", "raw_linear", "raw_svm"),
    "raw series, DTW 1-NN (band 10%)": ("raw_dtw_1nn", None, None, None),
    "fused, random-init TS2Vec": ("random_init_1nn", "random_init_knn", "random_init_linear", "random_init_svm"),
    "TS2Vec alone (the default)": ("ts2vec_alone_1nn", "ts2vec_alone_knn", "ts2vec_alone_linear", "ts2vec_alone_svm"),
    "fused [z(TS2Vec), 0.5 x raw] (--fuse-raw-weight 0.5)": ("1nn", "knn", "linear", "svm"),
}


def table(results: dict[str, list[dict]], split: str) -> str:
    rows = []
    for ds, runs in results.items():
        for label, keys in ROWS.items():
            cells = [mean_std([r[f"{split}_{k}_accuracy"] for r in runs]) if k and f"{split}_{k}_accuracy" in runs[0] else "-" for k in keys]
            rows.append([ds, label, *cells])
    text = format_table(rows, [f"dataset ({split})", "representation", "1-NN acc", "kNN acc (k=5)", "linear acc", "SVM acc"])
    # the verdicts: each probe against its raw counterpart(s), per set
    verdict = []
    for ds, runs in results.items():
        m = {k: float(np.mean([r[f"{split}_{k}_accuracy"] for r in runs])) for k in
             ("raw_1nn", "raw_dtw_1nn", "raw_knn", "raw_linear", "raw_svm", "ts2vec_alone_1nn", "ts2vec_alone_knn", "ts2vec_alone_linear",
              "ts2vec_alone_svm", "1nn", "knn", "linear", "svm") if f"{split}_{k}_accuracy" in runs[0]}
        best_1nn = max(m["raw_1nn"], m.get("raw_dtw_1nn", 0.0))
        for name, prefix in (("TS2Vec alone", "ts2vec_alone_"), ("fused", "")):
            one = f"{m[prefix + '1nn'] - best_1nn:+.1f}" if prefix + "1nn" in m else "-"
            verdict.append([ds, name, one, f"{m[prefix + 'knn'] - m['raw_knn']:+.1f}", f"{m[prefix + 'linear'] - m['raw_linear']:+.1f}",
                            f"{m[prefix + 'svm'] - m['raw_svm']:+.1f}"])
    text += "\n\n" + format_table(verdict, ["dataset", "representation", "1-NN - best raw 1-NN (euclidean, DTW)",
                                            "5-NN - raw 5-NN", "linear - raw LR", "SVM - raw SVM"])
    svm = {name: np.mean([np.mean([r[f"{split}_{p}svm_accuracy"] for r in runs]) for runs in results.values()])
           for name, p in (("TS2Vec alone", "ts2vec_alone_"), ("fused", ""))}
    return text + "\n\nmean over sets of the mean SVM accuracy: " + ", ".join(f"{n} {v:.2f}" for n, v in svm.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-root", type=Path, required=True, help="one folder per set with <set>_TRAIN.ts / <set>_TEST.ts")
    parser.add_argument("--stage", choices=("dev", "test"), required=True)
    parser.add_argument("--sets", nargs="+", default=list(SETS))
    parser.add_argument("--split-seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/series_extra_sets"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    results: dict[str, list[dict]] = {}
    walls: dict[str, float] = {}
    environment = run_environment("cpu")  # the thread count the figures depend on (docs/remeasured.md)
    for ds in args.sets:
        train = args.data_root / ds / f"{ds}_TRAIN.ts"
        t = time.perf_counter()
        if args.stage == "dev":
            results[ds] = [run(["--train-file", str(train), "--dev-fraction", "0.3", "--split-seed", str(s), "--seed", str(s),
                                "--fuse-raw-weight", "0.5"]) for s in args.split_seeds]
        else:
            results[ds] = [run(["--train-file", str(train), "--seed", str(s), "--fuse-raw-weight", "0.5"]) for s in args.seeds]
        walls[ds] = (time.perf_counter() - t) / len(results[ds])
        (args.out / f"{args.stage}.json").write_text(json.dumps({"results": results, "seconds_per_run": walls, "environment": environment},
                                                                indent=2, default=str))
    seeds = args.split_seeds if args.stage == "dev" else args.seeds
    text = (table(results, args.stage) + f"\n{'split seeds' if args.stage == 'dev' else 'seeds'} {seeds}; seconds per run: "
            + ", ".join(f"{d} {w:.0f}" for d, w in walls.items())
            + f" ({environment['cpu_count']}-core CPU, torch threads {environment['torch_threads']})")
    (args.out / f"{args.stage}.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
