"""The UEA/UCR sets of the series dev studies, their command line and the resumable loop over (set, split) cells."""
from __future__ import annotations

import argparse
import contextlib
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from multicl.utils.paths import shared_data_dir

SHARED_SETS = ("BasicMotions", "GunPoint", "PickupGestureWiimoteZ")
SKTIME_SETS = ("JapaneseVowels", "ArrowHead", "ItalyPowerDemand", "OSULeaf")  # ACSF1 and PLAID stay unseen: the check after
PROBES = ("1nn", "knn", "linear", "svm")  # the sequence recipe's four probes (cosine 1-NN, 5-NN, LR, RBF SVM)


def series_study_args(description: str, default_out: Path) -> argparse.Namespace:
    """``--shared-root --sktime-root --split-seeds --stage dev|test --sets --out`` (the out folder is created)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--shared-root", type=Path, default=shared_data_dir() / "timeseries")
    parser.add_argument("--sktime-root", type=Path, required=True, help="the sktime wheel's sktime/datasets/data folder")
    parser.add_argument("--split-seeds", type=int, nargs="+", default=[0, 1, 2], help="dev: split seeds; test: run seeds")
    parser.add_argument("--stage", choices=("dev", "test"), default="dev")
    parser.add_argument("--sets", nargs="+", help="names (default: the 7 dev sets); sktime ones are read from --sktime-root")
    parser.add_argument("--out", type=Path, default=default_out)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    return args


def run_cells(args: argparse.Namespace, run: Callable[[Path, int, str], dict]) -> tuple[dict, list[str]]:
    """``run(train_file, seed, stage)`` for every (set, split seed) not yet in ``<out>/<stage>.json`` (finished cells
    are kept, the file rewritten after each) -> (all results by ``"<set>/<seed>"``, the set names in order)."""
    path = args.out / f"{args.stage}.json"
    results: dict = json.loads(path.read_text()) if path.exists() else {}
    names = list(args.sets or SHARED_SETS + SKTIME_SETS)
    for ds in names:
        root = args.shared_root if ds in SHARED_SETS else args.sktime_root
        for seed in args.split_seeds:
            key = f"{ds}/{seed}"
            if key not in results:
                results[key] = run(root / ds / f"{ds}_TRAIN.ts", seed, args.stage)
                path.write_text(json.dumps(results, indent=2))
    return results, names


@dataclass
class DefaultRun:
    """One default TS2Vec recipe run and the series it is scored on: ``metrics`` (its metrics.json), ``model`` (the
    saved ``EmbeddingModel``), the fit series / labels and the held-out ones (dev share or *_TEST.ts)."""
    metrics: dict
    model: Any
    fit_series: list
    fit_labels: list
    eval_series: list
    eval_labels: list


@contextlib.contextmanager
def default_run(train_file: Path, seed: int, stage: str, extra_args: tuple[str, ...] = ()) -> Iterator[DefaultRun]:
    """Train the recipe's defaults once in a temporary out dir (``dev``: 30% of the training file held out, split
    seed = seed; ``test``: the *_TEST.ts beside it; DTW off) and yield the run; the folder is removed afterwards. The
    model saves TS2Vec's own output (``--no-ts2vec-standardise``): the space these studies start from. ``extra_args``:
    more recipe flags (a variant of the defaults)."""
    from multicl.api import EmbeddingModel
    from multicl.data.series_files import read_ts
    from multicl.recipes import sequence_contrastive as sc

    split = ["--dev-fraction", "0.3", "--split-seed", str(seed)] if stage == "dev" else []
    with tempfile.TemporaryDirectory(prefix="series_study_") as tmp:
        metrics = sc.cli(["--train-file", str(train_file), *split, "--seed", str(seed),
                          "--device", "cpu", "--precision", "no", "--dtw-band", "-1", "--no-ts2vec-standardise", "--out-dir", tmp, "--overwrite", *extra_args])
        train = read_ts(str(train_file))
        names = train.class_names or sorted(set(train.labels or []))
        y = train.label_ids(names)
        if stage == "dev":
            fit_s, y_fit, eval_s, y_eval = sc.dev_split(train.series, y, 0.3, seed)
        else:
            test = read_ts(str(train_file).replace("_TRAIN", "_TEST"))
            fit_s, y_fit, eval_s, y_eval = train.series, y, test.series, test.label_ids(names)
        yield DefaultRun(metrics, EmbeddingModel.load(Path(tmp) / "model", device="cpu"), fit_s, y_fit, eval_s, y_eval)


def probe_table(results: dict, labels: dict[str, str], probes: tuple[str, ...], sets: list[str], seeds: list[int],
                stage: str) -> tuple[str, dict[str, dict[str, float]]]:
    """``results["<set>/<seed>"][key][probe]`` -> (the table: a row per (key, probe), per set the mean over seeds, ± std
    ddof=1 on test, and the mean over sets; with its protocol line, and ``{key: {probe: mean over sets}}``)."""
    import numpy as np

    from multicl.eval.report import format_table

    rows, means = [], {}
    for key, label in labels.items():
        means[key] = {}
        for p in probes:
            values = [np.array([results[f"{ds}/{s}"][key][p] for s in seeds]) for ds in sets]
            cells = [f"{v.mean():.1f}" + (f" ± {v.std(ddof=1):.1f}" if stage == "test" and len(v) > 1 else "") for v in values]
            means[key][p] = float(np.mean([v.mean() for v in values]))
            rows.append([label, p, *cells, f"{means[key][p]:.2f}"])
    text = format_table(rows, ["representation", "probe", *sets, "mean"])
    text += (f"\ndev accuracy (30% of each *_TRAIN.ts), mean over split seeds {seeds} (each also the run's seed)" if stage == "dev"
             else f"\ntest accuracy, mean ± std (ddof=1) over seeds {seeds}")
    return text, means


def rule_terms(name: str, m: dict[str, float], base: dict[str, float], base_name: str) -> str:
    """The space studies' rule line: candidate ``name``'s mean neighbour (1-NN, 5-NN), SVM and linear gains over
    ``base_name`` (``m`` / ``base``: ``{probe: mean over sets}``) beside the rule's bars."""
    gain = (m["1nn"] + m["knn"] - base["1nn"] - base["knn"]) / 2
    return (f"{name} vs {base_name}: neighbours (mean of 1-NN and 5-NN) {gain:+.2f} (rule: > +1.0); SVM {m['svm'] - base['svm']:+.2f}, "
            f"linear {m['linear'] - base['linear']:+.2f} (rule: each >= -0.3)")


def space_study_main(doc: str, default_out: Path, run: Callable[[Path, int, str], dict], labels: dict[str, str],
                     probes: tuple[str, ...], rules: list[tuple[str, str]]) -> None:
    """The command line of a space study whose cells hold ``{space: {probe: accuracy}}``: run the missing cells, then
    write and print ``<out>/<stage>.md`` (the probe table and one rule line per ``(candidate, base)`` of ``rules``)."""
    args = series_study_args(doc.split("\n\n")[0], default_out)
    results, sets = run_cells(args, run)
    text, means = probe_table(results, labels, probes, sets, args.split_seeds, args.stage)
    text += "".join("\n" + rule_terms(c, means[c], means[b], b) for c, b in rules)
    (args.out / f"{args.stage}.md").write_text(text + "\n")
    print(text)
