"""The sequence recipe on the shared time series: UEA classification, Daphnet, and the exclusion-window ablation.

(Every run here is ``--method infonce``, the recipe's old default; TS2Vec, now the default, is
measured by ``benchmarks/series_ts2vec.py``.)

1. BasicMotions, GunPoint, PickupGestureWiimoteZ (``.ts``): contrastive TCN (and the transformer)
   vs raw-series euclidean kNN and the random-init encoder, over ``--seeds``;
2. Daphnet S06R02E0 (one 9-axis recording, split in time): window embeddings with jittered
   positives and exclusion windows, the window ablation (share of in-batch false negatives and
   what masking removes); its ``is_anomaly`` column is 0 at every step, so no AUROC exists there;
3. a labelled stream for the downstream side of the ablation: the BasicMotions series
   concatenated into one recording per split (10 s of one activity after another, 10 Hz, real
   smartwatch data; training series -> the training stream, test series -> the test stream),
   windows of 3.2 s labelled by their majority activity, kNN / linear accuracy and macro AUROC
   per exclusion width.

    .venv/bin/python benchmarks/sequence_suite.py --data-dir ../shared/data
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from multicl.data.series_files import read_ts, stitch_series, write_stream_csv
from multicl.eval.report import format_table
from multicl.recipes import sequence_contrastive

UEA = ("BasicMotions", "GunPoint", "PickupGestureWiimoteZ")


def stitch(ts_path: Path, out_csv: Path, seed: int) -> None:
    write_stream_csv(stitch_series(read_ts(ts_path), seed), out_csv)


def mean_std(values: list[float | None]) -> str:
    v = np.array([x for x in values if x is not None], dtype=float)
    if not len(v):
        return "-"
    return f"{v.mean():.1f} ± {v.std(ddof=1):.1f}" if len(v) > 1 else f"{v[0]:.1f}"  # sample std over seeds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    parser.add_argument("--seeds", type=int, nargs="*", default=[0], help="seeds of the UEA runs")
    parser.add_argument("--stream-seeds", type=int, nargs="*", default=[0, 1], help="seeds of the stitched-stream ablation")
    parser.add_argument("--transformer-on", nargs="*", default=["BasicMotions"], help="UEA sets that also get a transformer run")
    parser.add_argument("--max-steps", type=int, default=400)
    parser.add_argument("--windows", type=int, nargs="*", default=[32, 128], help="ablation widths on the stitched stream (steps)")
    parser.add_argument("--daphnet-windows", type=int, nargs="*", default=[32, 64, 128, 256])
    parser.add_argument("--stream-steps", type=int, default=200, help="pre-training steps of each stream run (Daphnet, stitched)")
    parser.add_argument("--precision", default="no", help="bf16 autocast pays off only on CPUs with AMX (not this AMD EPYC)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/sequence"))
    parser.add_argument("--runs-dir", type=Path, default=Path("runs/sequence_suite"))
    args = parser.parse_args()
    series_dir = args.data_dir / "timeseries"
    # this suite measures the InfoNCE method (TCN / transformer, exclusion windows); TS2Vec: benchmarks/series_ts2vec.py
    steps = ["--method", "infonce", "--max-steps", str(args.max_steps), "--device", "cpu", "--precision", args.precision]
    results: dict[str, dict] = {}
    walls: dict[str, float] = {}
    start = time.perf_counter()

    # 2. Daphnet: window statistics (no FoG steps in this recording: no AUROC)
    daphnet = series_dir / "Daphnet_S06R02E0" / "S06R02E0.csv"
    t = time.perf_counter()
    stream_steps = ["--method", "infonce", "--max-steps", str(args.stream_steps), "--device", "cpu", "--precision", args.precision]
    results["daphnet"] = sequence_contrastive.cli(["--train-file", str(daphnet), *stream_steps, "--out-dir", str(args.runs_dir / "daphnet"),
                                                   "--window-ablation", *map(str, args.daphnet_windows)])
    walls["daphnet"] = time.perf_counter() - t
    table2 = ablation_table(results["daphnet"], ["-1", *map(str, args.daphnet_windows)], with_metrics=False)

    # 3. the labelled stitched stream: downstream effect of the window
    stream_dir = args.runs_dir / "stitched"
    stream_dir.mkdir(parents=True, exist_ok=True)
    stitch(series_dir / "BasicMotions" / "BasicMotions_TRAIN.ts", stream_dir / "train.csv", seed=0)
    stitch(series_dir / "BasicMotions" / "BasicMotions_TEST.ts", stream_dir / "test.csv", seed=0)
    stitched = []
    t = time.perf_counter()
    for seed in args.stream_seeds:
        stitched.append(sequence_contrastive.cli([
            "--train-file", str(stream_dir / "train.csv"), "--test-file", str(stream_dir / "test.csv"), *stream_steps, "--seed", str(seed),
            "--clip-length", "32", "--stride", "2", "--eval-stride", "8", "--stream-jitter", "2", "8", "--exclusion-window", "32",
            "--batch-size", "128", "--out-dir", str(args.runs_dir / f"stitched_{seed}"), "--window-ablation", *map(str, args.windows)]))
    walls["stitched"] = (time.perf_counter() - t) / len(args.stream_seeds)
    results["stitched"] = {"runs": stitched}
    table3 = ablation_table(stitched, ["-1", *map(str, args.windows)], with_metrics=True)
    base = format_table([[name, mean_std([r[f"test_{p}knn_accuracy"] for r in stitched]), mean_std([r[f"test_{p}linear_accuracy"] for r in stitched]),
                          mean_std([r.get(f"test_{p}auroc") or r.get(f"test_{p}linear_auroc") for r in stitched])]
                         for name, p in (("raw windows", "raw_"), ("TCN, random init", "random_init_"), ("TCN, contrastive, W=32 (ours)", ""))],
                        ["stitched BasicMotions stream", "kNN acc", "linear acc", "linear macro AUROC"])

    # 1. classification sets
    rows = []
    for name in UEA:
        train = str(series_dir / name / f"{name}_TRAIN.ts")
        runs = {}
        for encoder in ("tcn", "transformer"):
            seeds = args.seeds if encoder == "tcn" else (args.seeds[:1] if name in args.transformer_on else [])
            runs[encoder] = [sequence_contrastive.cli(["--train-file", train, "--encoder", encoder, "--seed", str(s), *steps,
                                                        "--out-dir", str(args.runs_dir / f"{name}_{encoder}_{s}")]) for s in seeds]
            results[f"{name}_{encoder}"] = {"runs": runs[encoder]}
        walls[name] = float(np.mean([r["wall_seconds"] for r in runs["tcn"]]))
        tcn = runs["tcn"]
        rows += [
            [name, "raw series, euclidean 1-NN", mean_std([tcn[0]["test_raw_1nn_accuracy"]]), "-"],
            [name, "raw series, euclidean 5-NN / logistic regression", mean_std([tcn[0]["test_raw_knn_accuracy"]]), mean_std([tcn[0]["test_raw_linear_accuracy"]])],
            [name, "TCN, random init", mean_std([r["test_random_init_knn_accuracy"] for r in tcn]), mean_std([r["test_random_init_linear_accuracy"] for r in tcn])],
            [name, f"TCN, contrastive (ours; {len(tcn)} seeds)", mean_std([r["test_knn_accuracy"] for r in tcn]), mean_std([r["test_linear_accuracy"] for r in tcn])],
            [name, "transformer, contrastive (seed 0)", mean_std([r["test_knn_accuracy"] for r in runs["transformer"]]),
             mean_std([r["test_linear_accuracy"] for r in runs["transformer"]])],
        ]
    table1 = format_table(rows, ["dataset", "encoder", "kNN acc (k=5)", "linear acc"])

    wall = time.perf_counter() - start
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps({"wall_seconds": wall, "walls": walls, "results": results}, indent=2, default=str))
    text = (f"## UEA classification\n\n{table1}\n\n## Daphnet S06R02E0: in-batch false negatives per exclusion window\n\n{table2}\n\n"
            f"## Stitched BasicMotions stream ({len(args.stream_seeds)} seeds)\n\n{base}\n\n{table3}\n\n"
            f"wall (2 CPU cores): " + ", ".join(f"{k} {v:.0f}s per run" for k, v in walls.items()) + f"; total {wall:.0f}s\n")
    (args.out / "tables.md").write_text(text)
    print(text)


def ablation_table(runs, windows: list[str], with_metrics: bool) -> str:
    runs = runs if isinstance(runs, list) else [runs]
    rows = []
    for w in windows:
        key = "window_off" if w == "-1" else f"window_{w}"
        row = ["off" if w == "-1" else w,
               mean_std([r[f"{key}_false_negative_share_before"] for r in runs]), mean_std([r[f"{key}_false_negative_share_after"] for r in runs]),
               mean_std([r[f"{key}_removed_per_anchor"] for r in runs]), mean_std([r[f"{key}_removed_true_negatives_per_anchor"] for r in runs]),
               mean_std([r[f"{key}_negatives_per_anchor_after"] for r in runs])]
        if with_metrics:
            row += [mean_std([r.get(f"{key}_knn_accuracy") for r in runs]), mean_std([r.get(f"{key}_linear_accuracy") for r in runs]),
                    mean_std([r.get(f"{key}_auroc") for r in runs])]
        rows.append(row)
    header = ["W (steps)", "FN share before %", "FN share after %", "removed / anchor", "of which not overlapping", "negatives / anchor"]
    if with_metrics:
        header += ["kNN acc", "linear acc", "macro AUROC"]
    return format_table(rows, header)


if __name__ == "__main__":
    main()
