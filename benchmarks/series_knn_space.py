"""Is TS2Vec's kNN probe weak because of the embedding's common offset? (issue 18)

TS2Vec's instance embedding is a max over time steps, so every coordinate tends to be positive and
cosine similarities crowd near 1; the SVM probe (TS2Vec's protocol) does not care, a kNN search
does. For each set and dev split (``--dev-fraction 0.3`` of *_TRAIN.ts, the test file never read)
the recipe's default TS2Vec run is embedded again from its saved model and the same kNN probe
(cosine, k=5, distance-weighted) scores: the embedding as saved, centred (minus the fit series'
mean) and z-scored (per coordinate, fit series' mean / std); beside raw euclidean 1-NN and DTW 1-NN
on the same split.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/series_knn_space.py --split-seeds 0 1
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/series_knn_space.py --split-seeds 0 1 2 3 4 --all-probes --out benchmarks/results/series_knn_space/all_probes
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

from multicl.eval.probe import join_unit_blocks, probe_accuracies
from multicl.eval.report import format_table
from multicl.recipes import sequence_contrastive as sc

SETS = ("BasicMotions", "GunPoint", "PickupGestureWiimoteZ")


def variants(fit: np.ndarray, dev: np.ndarray, raw_fit: np.ndarray, raw_dev: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``raw_*``: the standardised raw series resampled to one length and flattened (the raw 1-NN's vectors)."""
    mean, std = fit.mean(0), fit.std(0) + 1e-6
    zf, zd = (fit - mean) / std, (dev - mean) / std
    out = {"as saved": (fit, dev), "centred": (fit - mean, dev - mean), "z-scored": (zf, zd)}
    for alpha in (0.5, 1.0):
        out[f"[z-scored, {alpha:g} x raw series]"] = (join_unit_blocks(zf, raw_fit, weights=(1.0, alpha)),
                                                      join_unit_blocks(zd, raw_dev, weights=(1.0, alpha)))
    return out


def raw_vectors(model, fit_s: list[np.ndarray], dev_s: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The raw 1-NN baseline's vectors: per-channel standardised (the model's statistics), resampled to the
    longest fit length, flattened."""
    from multicl.recipes._sequence_eval import resample

    reader = model.reader
    length = max(len(s) for s in fit_s)

    def flat(series):
        return np.stack([resample((s - reader.center) / reader.scale, length).reshape(-1) for s in series])

    return flat(fit_s), flat(dev_s)


ALL_PROBES = ("as saved", "z-scored", "[z-scored, 0.5 x raw series]")  # --all-probes: also logistic regression and the SVM on these


def run(name: str, data: Path, split_seed: int, all_probes: bool = False) -> dict[str, float]:
    from multicl.api import EmbeddingModel
    from multicl.data.series_files import read_ts

    train_file = data / name / f"{name}_TRAIN.ts"
    with tempfile.TemporaryDirectory(prefix=f"sks_{name}_") as tmp:
        metrics = sc.cli(["--train-file", str(train_file), "--dev-fraction", "0.3", "--split-seed", str(split_seed), "--seed", str(split_seed),
                          "--device", "cpu", "--out-dir", tmp])
        train = read_ts(str(train_file))
        y = train.label_ids(train.class_names or sorted(set(train.labels or [])))
        fit_s, y_fit, dev_s, y_dev = sc.dev_split(train.series, y, 0.3, split_seed)
        model = EmbeddingModel.load(Path(tmp) / "model")
        fit_z, dev_z = model.encode(fit_s, normalize=False, show_progress_bar=False), model.encode(dev_s, normalize=False, show_progress_bar=False)
    out = {"raw 1-NN": metrics["dev_raw_1nn_accuracy"], "raw DTW 1-NN": metrics["dev_raw_dtw_1nn_accuracy"],
           "recipe kNN": metrics["dev_knn_accuracy"]}
    raw_fit, raw_dev = raw_vectors(model, fit_s, dev_s)
    for label, (a, b) in variants(fit_z, dev_z, raw_fit, raw_dev).items():
        accuracies = probe_accuracies(a, y_fit, b, y_dev, 5, "p")
        out[f"kNN, {label}"] = accuracies["p_knn_accuracy"]
        if all_probes and label in ALL_PROBES:
            from multicl.eval.svm_probe import svm_probe

            out[f"linear, {label}"] = accuracies["p_linear_accuracy"]
            out[f"SVM, {label}"] = svm_probe(a, y_fit, b, y_dev, seed=split_seed)["accuracy"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/data/timeseries"))
    parser.add_argument("--split-seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/series_knn_space"))
    parser.add_argument("--all-probes", action="store_true", help=f"also logistic regression and the RBF SVM on {', '.join(ALL_PROBES)}")
    args = parser.parse_args()
    results = {f"{name}/{seed}": run(name, args.data_dir, seed, args.all_probes) for name in SETS for seed in args.split_seeds}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "dev.json").write_text(json.dumps(results, indent=2))
    rows = []
    for key in next(iter(results.values())):
        cells = []
        for name in SETS:
            v = np.array([results[f"{name}/{s}"][key] for s in args.split_seeds])
            cells.append(f"{v.mean():.1f} ± {v.std(ddof=1):.1f}" if len(v) > 1 else f"{v[0]:.1f}")
        mean = np.mean([results[k][key] for k in results])
        rows.append([key, *cells, f"{mean:.1f}"])
    text = format_table(rows, ["dev accuracy (30% of TRAIN)", *SETS, "mean"]) + f"\nsplit seeds {args.split_seeds} (each also the run's seed)"
    (args.out / "dev.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
