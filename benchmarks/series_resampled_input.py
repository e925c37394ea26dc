"""Variable-length series resampled to one length before TS2Vec: does the default find better neighbours? (issue 18, dev only).

The rule, written before any run: ``benchmarks/results/series_resampled_input/RULE.md``. Per set and split seed, two
default recipe runs with ``--dev-fraction 0.3``: on the training file as it is, and on a copy with every series
linearly resampled to the file's longest length (what the raw baselines compare). Writes ``dev.json`` / ``dev.md``.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/series_resampled_input.py --sktime-root <sktime>/datasets/data
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

from multicl.data.series_files import read_ts
from multicl.eval.report import format_table
from multicl.recipes import sequence_contrastive as sc
from multicl.recipes._sequence_eval import resample
from multicl.utils.paths import shared_data_dir

SETS = {"JapaneseVowels": "sktime", "PickupGestureWiimoteZ": "shared", "PLAID": "sktime"}
PROBES = ("1nn", "knn", "linear", "svm")


def write_resampled_ts(source: Path, target: Path) -> None:
    """``source`` (.ts) with every series resampled to its longest length, written as an equal-length .ts file."""
    data = read_ts(source)
    length = max(len(s) for s in data.series)
    names = data.class_names or sorted(set(data.labels))
    channels = np.asarray(data.series[0]).reshape(len(data.series[0]), -1).shape[1]
    lines = [f"@problemName {source.stem}_resampled", "@timeStamps false", "@missing false",
             f"@univariate {'true' if channels == 1 else 'false'}", *([f"@dimensions {channels}"] if channels > 1 else []),
             "@equalLength true", f"@seriesLength {length}", f"@classLabel true {' '.join(names)}", "@data"]
    for series, label in zip(data.series, data.labels):
        s = resample(np.asarray(series, np.float64).reshape(len(series), -1), length)
        lines.append(":".join(",".join(f"{v:.8g}" for v in s[:, c]) for c in range(channels)) + f":{label}")
    target.write_text("\n".join(lines) + "\n")


def run(train_file: Path, seed: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="series_resampled_") as tmp:
        m = sc.cli(["--train-file", str(train_file), "--dev-fraction", "0.3", "--split-seed", str(seed), "--seed", str(seed),
                    "--device", "cpu", "--precision", "no", "--dtw-band", "-1", "--out-dir", tmp, "--overwrite"])
    out = {f"default_{p}": m[f"dev_{p}_accuracy"] for p in PROBES}
    return out | {f"raw_{p}": m[f"dev_raw_{p}_accuracy"] for p in PROBES if f"dev_raw_{p}_accuracy" in m}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared-root", type=Path, default=shared_data_dir() / "timeseries")
    parser.add_argument("--sktime-root", type=Path, required=True)
    parser.add_argument("--split-seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/series_resampled_input"))
    args = parser.parse_args()
    path = args.out / "dev.json"
    results = json.loads(path.read_text()) if path.exists() else {}
    with tempfile.TemporaryDirectory(prefix="resampled_ts_") as tmp:
        for ds, where in SETS.items():
            source = (args.shared_root if where == "shared" else args.sktime_root) / ds / f"{ds}_TRAIN.ts"
            copy = Path(tmp) / f"{ds}_TRAIN.ts"
            write_resampled_ts(source, copy)
            for seed in args.split_seeds:
                for arm, file in (("as_is", source), ("resampled", copy)):
                    key = f"{ds}/{seed}/{arm}"
                    if key not in results:
                        results[key] = run(file, seed)
                        path.write_text(json.dumps(results, indent=2))
    rows, means = [], {}
    for arm, prefix, label in (("as_is", "raw", "raw series"), ("as_is", "default", "default (as is)"),
                               ("resampled", "default", "default, input resampled")):
        for p in PROBES:
            cells = [np.mean([results[f"{ds}/{s}/{arm}"][f"{prefix}_{p}"] for s in args.split_seeds]) for ds in SETS]
            means[(label, p)] = float(np.mean(cells))
            rows.append([label, p, *[f"{c:.1f}" for c in cells], f"{means[(label, p)]:.2f}"])
    a, b = "default, input resampled", "default (as is)"
    gain = (means[(a, "1nn")] + means[(a, "knn")] - means[(b, "1nn")] - means[(b, "knn")]) / 2
    text = format_table(rows, ["representation", "probe", *SETS, "mean"])
    text += (f"\ndev accuracy (30% of each *_TRAIN.ts), mean over split seeds {args.split_seeds} (each also the run's seed)\n"
             f"resampled vs as is: neighbours {gain:+.2f} (rule: > +1.0); SVM {means[(a, 'svm')] - means[(b, 'svm')]:+.2f}, "
             f"linear {means[(a, 'linear')] - means[(b, 'linear')]:+.2f} (rule: each >= -0.3)")
    (args.out / "dev.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
