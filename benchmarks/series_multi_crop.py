"""DINO and SwAV on multi-crop views of series beside the TS2Vec default (issue 18): dev first, then test.

Every run is the sequence recipe with one ``--method`` (``ts2vec``: the default; ``dino`` / ``swav``: the same TS2Vec
encoder trained on 2 global + 2 local augmented crops of each series, 200 steps of 16 series, the DINO teacher seeing
the global crops only and saved), so the three differ by objective and views only.

* ``--stage dev``: ``--dev-fraction 0.3`` of each *_TRAIN.ts of BasicMotions, GunPoint, PickupGestureWiimoteZ (split
  seeds ``--split-seeds``, each also the run's seed); no *_TEST.ts read. Criterion (the one that chose TS2Vec):
  mean dev SVM accuracy over sets x splits; the rule is ``benchmarks/results/series_multi_crop/RULE.md``.
* ``--stage test``: train -> test with ``--seeds``; mean ± std over seeds (ddof=1), the raw baselines beside.

Every run writes into a fresh temporary folder with ``--overwrite``; ``<out>/<stage>.json`` and ``<stage>.md``.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/series_multi_crop.py --stage dev --split-seeds 0 1
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/series_multi_crop.py --stage test --seeds 0 1 2
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
from multicl.utils.paths import shared_data_dir  # noqa: E402

SETS = ("BasicMotions", "GunPoint", "PickupGestureWiimoteZ")
METHODS = {"ts2vec": "TS2Vec (the default)", "dino": "DINO, multi-crop (teacher saved)", "swav": "SwAV, multi-crop"}
PROBES = ("1nn", "knn", "linear", "svm")


def table(results: dict, split: str, seeds: list[int]) -> str:
    rows = []
    for ds in results:
        first = results[ds][next(iter(METHODS))]
        rows.append([ds, "raw series (euclidean; SVM on the flattened series)", *[mean_std([r[f"{split}_raw_{p}_accuracy"] for r in first]) for p in PROBES]])
        if f"{split}_raw_dtw_1nn_accuracy" in first[0]:
            rows.append([ds, "raw series, DTW 1-NN (band 10%)", mean_std([r[f"{split}_raw_dtw_1nn_accuracy"] for r in first]), "-", "-", "-"])
        for method, label in METHODS.items():
            runs = results[ds][method]
            rows.append([ds, f"{label}, random init", *[mean_std([r.get(f"{split}_random_init_{p}_accuracy") for r in runs]) for p in PROBES]])
            rows.append([ds, label, *[mean_std([r.get(f"{split}_{p}_accuracy") for r in runs]) for p in PROBES]])
    text = format_table(rows, [f"dataset ({split})", "representation", "1-NN acc", "kNN acc (k=5)", "linear acc", "SVM acc"])
    score = {m: float(np.mean([r[f"{split}_svm_accuracy"] for ds in results for r in results[ds][m]])) for m in METHODS}
    three = {m: float(np.mean([np.mean([r[f"{split}_{p}_accuracy"] for p in ("knn", "linear", "svm")]) for ds in results for r in results[ds][m]]))
             for m in METHODS}
    text += "\n\n" + format_table([[METHODS[m], f"{score[m]:.2f}", f"{three[m]:.2f}"] for m in METHODS],
                                  ["method", f"mean {split} SVM acc (sets x seeds)", "mean of kNN / linear / SVM"])
    return text + f"\n{'split seeds' if split == 'dev' else 'seeds'} {seeds}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-root", type=Path, default=shared_data_dir() / "timeseries")
    parser.add_argument("--stage", choices=("dev", "test"), required=True)
    parser.add_argument("--sets", nargs="+", default=list(SETS))
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--split-seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/series_multi_crop"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    seeds = args.split_seeds if args.stage == "dev" else args.seeds
    path = args.out / f"{args.stage}.json"
    # a stopped study picks up where it was: finished (set, method) cells are kept, the rest run in fresh folders
    saved = json.loads(path.read_text()) if path.exists() else {}
    results: dict = saved.get("results", {})
    walls: dict = saved.get("seconds_per_run", {})
    environment = run_environment("cpu")
    for ds in args.sets:
        train = args.data_root / ds / f"{ds}_TRAIN.ts"
        for method in args.methods:
            if len(results.get(ds, {}).get(method, [])) == len(seeds):
                continue
            t = time.perf_counter()
            extra = ["--dtw-band", "-1"] if method != "ts2vec" else []  # the raw rows are the same in every run: DTW once
            if args.stage == "dev":
                runs = [run(["--train-file", str(train), "--method", method, "--dev-fraction", "0.3", "--split-seed", str(s), "--seed", str(s), *extra])
                        for s in seeds]
            else:
                runs = [run(["--train-file", str(train), "--method", method, "--seed", str(s), *extra]) for s in seeds]
            results.setdefault(ds, {})[method] = runs
            walls[f"{ds}/{method}"] = (time.perf_counter() - t) / len(seeds)
            path.write_text(json.dumps({"results": results, "seconds_per_run": walls, "environment": environment}, indent=2, default=str))
    done = {ds: r for ds, r in results.items() if all(len(r.get(m, [])) == len(seeds) for m in METHODS)}
    text = (table(done, args.stage, seeds) + "; seconds per run: " + ", ".join(f"{k} {v:.0f}" for k, v in walls.items())
            + f" ({environment['cpu_count']}-core CPU, torch threads {environment['torch_threads']})")
    (args.out / f"{args.stage}.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
