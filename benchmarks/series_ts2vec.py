"""TS2Vec vs the old InfoNCE default on the shared UEA/UCR sets: settings chosen on dev splits, then scored on test.

(a) dev selection: every candidate setting of the sequence recipe on BasicMotions, GunPoint and
    PickupGestureWiimoteZ with ``--dev-fraction 0.3``: a stratified 30% of each *_TRAIN.ts held
    out (split seeds ``--split-seeds``; pre-training and probes on the other 70%); *_TEST.ts is
    never read. The winner is the best mean dev SVM accuracy over sets and splits (TS2Vec's
    protocol), ties broken by the mean of the three probes.
(b) test: the recipe's *defaults* (set from (a)) on train -> test for every UEA/UCR set in
    ``<data-dir>/timeseries`` with ``--seeds``, mean ± std (ddof=1), the old default
    (``--method infonce``) with ``--old-seeds``, the raw baselines, and TS2Vec's published accuracy.
    Daphnet (a stream): the old default and TS2Vec beside raw windows.
(c) JSON and tables under ``--out``.

Every run writes into a fresh temporary folder with ``--overwrite``: no figure comes from a resumed run.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/series_ts2vec.py --stage all
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from multicl.eval.report import format_table
from multicl.recipes import sequence_contrastive

DEV_SETS = ("BasicMotions", "GunPoint", "PickupGestureWiimoteZ")
CANDIDATES = {  # name -> recipe arguments
    "InfoNCE TCN (old default: crop 0.9, time warp 0.2, 400 steps)": ["--method", "infonce"],
    "TS2Vec, paper sizes (64 x 10 blocks -> 320), 200 steps, batch 8": ["--method", "ts2vec"],
    "TS2Vec, small (32 x 6 blocks -> 128), 200 steps, batch 8": ["--method", "ts2vec", "--ts2vec-hidden", "32", "--ts2vec-depth", "6",
                                                                 "--ts2vec-dims", "128"],
}
# TS2Vec's published accuracy (Yue et al., AAAI 2022, full UCR / UEA tables of the appendix), as far as quoted here
PUBLISHED = {"BasicMotions": "97.5 (UEA table)", "GunPoint": "98.0 (UCR table)", "PickupGestureWiimoteZ": "82.0 (UCR table; unverified)",
             "PickupGestureWiimoteZ_eq": "- (the archive's set is variable-length)"}


def mean_std(values) -> str:
    v = np.array([x for x in values if x is not None], dtype=float)
    if not len(v):
        return "-"
    return f"{v.mean():.1f} ± {v.std(ddof=1):.1f}" if len(v) > 1 else f"{v[0]:.1f}"


def run(argv: list[str]) -> dict:
    with tempfile.TemporaryDirectory(prefix="series_ts2vec_") as out:
        return sequence_contrastive.cli([*argv, "--out-dir", out, "--overwrite", "--device", "cpu", "--precision", "no"])


def dev_stage(series_dir: Path, split_seeds: list[int]) -> tuple[dict, str, str]:
    runs: dict[str, dict[str, list[dict]]] = {name: {} for name in CANDIDATES}
    for name, extra in CANDIDATES.items():
        for ds in DEV_SETS:
            runs[name][ds] = [run(["--train-file", str(series_dir / ds / f"{ds}_TRAIN.ts"), "--dev-fraction", "0.3", "--split-seed", str(s),
                                   "--seed", str(s), *extra]) for s in split_seeds]
    rows, score = [], {}
    first = next(iter(CANDIDATES))
    for ds in DEV_SETS:
        r = runs[first][ds]
        rows.append([ds, "raw: 1-NN / DTW 1-NN", mean_std([x["dev_raw_1nn_accuracy"] for x in r]), mean_std([x["dev_raw_dtw_1nn_accuracy"] for x in r]), "-"])
        rows.append([ds, "raw: 5-NN / LR / SVM", mean_std([x["dev_raw_knn_accuracy"] for x in r]), mean_std([x["dev_raw_linear_accuracy"] for x in r]),
                     mean_std([x["dev_raw_svm_accuracy"] for x in r])])
        for name in CANDIDATES:
            r = runs[name][ds]
            rows.append([ds, name, mean_std([x["dev_knn_accuracy"] for x in r]), mean_std([x["dev_linear_accuracy"] for x in r]),
                         mean_std([x["dev_svm_accuracy"] for x in r])])
    for name in CANDIDATES:
        every = [x for ds in DEV_SETS for x in runs[name][ds]]
        score[name] = (float(np.mean([x["dev_svm_accuracy"] for x in every])),
                       float(np.mean([(x["dev_knn_accuracy"] + x["dev_linear_accuracy"] + x["dev_svm_accuracy"]) / 3 for x in every])))
    winner = max(score, key=lambda n: score[n])
    table = format_table(rows, ["dataset (dev: 30% of TRAIN)", "setting", "kNN / 1-NN acc", "linear / DTW acc", "SVM acc"])
    table += "\n\n" + format_table([[n, f"{a:.1f}", f"{b:.1f}", "<- chosen" if n == winner else ""] for n, (a, b) in score.items()],
                                   ["setting", "mean dev SVM acc", "mean dev acc of the 3 probes", ""])
    return {"runs": runs, "score": score, "winner": winner}, table, winner


def test_stage(series_dir: Path, seeds: list[int], old_seeds: list[int], stream_steps: int, stream_methods: list[str],
               only: list[str] | None, partial: Path, default_args: tuple[str, ...] = ()) -> tuple[dict, str]:
    sets = sorted(p.name for p in series_dir.iterdir() if (p / f"{p.name}_TRAIN.ts").exists())
    sets += sorted(f.name[: -len("_TRAIN.ts")] for p in series_dir.iterdir() for f in p.glob("*_TRAIN.ts") if f.name[: -len("_TRAIN.ts")] != p.name)
    skipped = [ds for ds in sets if only is not None and ds not in only]
    results, rows, walls = {"skipped": skipped}, [], {}
    for ds in [ds for ds in sets if ds not in skipped]:
        train = next(series_dir.glob(f"*/{ds}_TRAIN.ts"))
        t = time.perf_counter()
        new = [run(["--train-file", str(train), "--seed", str(s), *default_args]) for s in seeds]  # the recipe's defaults (+ default_args)
        walls[ds] = (time.perf_counter() - t) / len(seeds)
        old = [run(["--train-file", str(train), "--seed", str(s), "--method", "infonce"]) for s in old_seeds]
        results[ds] = {"default": new, "old_default": old}
        partial.write_text(json.dumps({"results": results, "walls_per_default_run": walls}, indent=2, default=str))  # survives a stop
        m = new[0]["method"]
        fused = "test_ts2vec_alone_knn_accuracy" in new[0]  # --fuse-raw-weight > 0: TS2Vec alone is in the same runs
        rows += [[ds, "raw series: euclidean 1-NN / DTW 1-NN (band 10%)", mean_std([new[0]["test_raw_1nn_accuracy"]]),
                  mean_std([new[0].get("test_raw_dtw_1nn_accuracy")]), "-", ""],
                 [ds, "raw series: euclidean 5-NN / LR / RBF SVM", mean_std([new[0]["test_raw_knn_accuracy"]]),
                  mean_std([new[0]["test_raw_linear_accuracy"]]), mean_std([new[0]["test_raw_svm_accuracy"]]), ""],
                 [ds, f"{m} encoder, random init ({len(seeds)} seeds)", mean_std([r["test_random_init_knn_accuracy"] for r in new]),
                  mean_std([r["test_random_init_linear_accuracy"] for r in new]), mean_std([r["test_random_init_svm_accuracy"] for r in new]), ""],
                 [ds, f"old default: InfoNCE TCN ({len(old_seeds)} seed{'s' if len(old_seeds) > 1 else ''})",
                  mean_std([r["test_knn_accuracy"] for r in old]), mean_std([r["test_linear_accuracy"] for r in old]),
                  mean_std([r["test_svm_accuracy"] for r in old]), ""],
                 *([[ds, f"{m} embedding alone (the same {len(seeds)} runs)", mean_std([r["test_ts2vec_alone_knn_accuracy"] for r in new]),
                     mean_std([r["test_ts2vec_alone_linear_accuracy"] for r in new]), mean_std([r["test_ts2vec_alone_svm_accuracy"] for r in new]), ""]]
                   if fused else []),
                 [ds, (f"{m} fused with the raw series ({' '.join(default_args)})" if fused else f"default: {m}")
                  + f" ({len(seeds)} seeds)",
                  mean_std([r["test_knn_accuracy"] for r in new]),
                  mean_std([r["test_linear_accuracy"] for r in new]), mean_std([r["test_svm_accuracy"] for r in new]), PUBLISHED.get(ds, "-")]]
    table = format_table(rows, ["dataset (test split)", "encoder", "kNN / 1-NN acc", "linear / DTW acc", "SVM acc", "TS2Vec published (SVM)"])
    if skipped:
        table += f"\nnot run this time: {', '.join(skipped)}"
    # Daphnet: one stream; its is_anomaly column is 0 everywhere, so no accuracy exists (the recipe says why)
    stream = series_dir / "Daphnet_S06R02E0" / "S06R02E0.csv"
    if stream.exists() and stream_methods:
        daphnet = {}
        for label, extra in (("old default: InfoNCE TCN", ["--method", "infonce", "--max-steps", str(stream_steps)]),
                             ("TS2Vec", ["--method", "ts2vec", "--ts2vec-steps", str(stream_steps)])):
            if extra[1] not in stream_methods:
                continue
            daphnet[label] = run(["--train-file", str(stream), "--seed", "0", *extra])
        results["Daphnet_S06R02E0"] = daphnet
        rows = [[label, "-" if r.get("test_knn_accuracy") is None else f"{r['test_knn_accuracy']:.1f}", f"{r['pretrain_seconds']:.0f}",
                 r.get("test_auroc_note", "")] for label, r in daphnet.items()]
        first = next(iter(daphnet.values()))
        rows.insert(0, ["raw windows", "-" if first.get("test_raw_knn_accuracy") is None else f"{first['test_raw_knn_accuracy']:.1f}", "-",
                        first.get("test_raw_auroc_note", "")])
        table += "\n\nDaphnet S06R02E0 (stream, split in time, windows of 128 steps, seed 0)\n" + format_table(
            rows, ["encoder", "kNN acc", "pre-training s", "note"])
    return {"results": results, "walls_per_default_run": walls}, table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    parser.add_argument("--stage", choices=("dev", "test", "all"), default="all")
    parser.add_argument("--split-seeds", type=int, nargs="*", default=[0, 1], help="dev splits (each also seeds its run)")
    parser.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2], help="test runs of the default")
    parser.add_argument("--old-seeds", type=int, nargs="*", default=[0, 1, 2], help="test runs of the old default (InfoNCE TCN)")
    parser.add_argument("--stream-steps", type=int, default=200, help="Daphnet pre-training steps")
    parser.add_argument("--sets", nargs="*", default=None, help="test stage: only these sets (default: every UEA/UCR set found)")
    parser.add_argument("--stream-methods", nargs="*", default=["infonce", "ts2vec"], help="methods run on Daphnet")
    parser.add_argument("--fuse-raw-weight", type=float, default=None, help="test stage: run the default with this --fuse-raw-weight")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/series_ts2vec"))
    args = parser.parse_args()
    series_dir = args.data_dir / "timeseries"
    args.out.mkdir(parents=True, exist_ok=True)
    if args.stage in ("dev", "all"):
        t = time.perf_counter()
        dev, table, winner = dev_stage(series_dir, args.split_seeds)
        dev["wall_seconds"] = time.perf_counter() - t
        (args.out / "dev.json").write_text(json.dumps(dev, indent=2, default=str))
        (args.out / "dev.md").write_text(table + f"\n\nwall {dev['wall_seconds']:.0f}s\n")
        print(table, f"\nwinner: {winner}; wall {dev['wall_seconds']:.0f}s", flush=True)
    if args.stage in ("test", "all"):
        t = time.perf_counter()
        test, table = test_stage(series_dir, args.seeds, args.old_seeds, args.stream_steps, args.stream_methods, args.sets,
                                 args.out / "test_partial.json",
                                 () if args.fuse_raw_weight is None else ("--fuse-raw-weight", str(args.fuse_raw_weight)))
        test["wall_seconds"] = time.perf_counter() - t
        (args.out / "test.json").write_text(json.dumps(test, indent=2, default=str))
        (args.out / "test.md").write_text(table + f"\n\nwall {test['wall_seconds']:.0f}s\n")
        print(table, f"\nwall {test['wall_seconds']:.0f}s", flush=True)


if __name__ == "__main__":
    main()
