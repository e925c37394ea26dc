"""Whiten the sequence recipe's saved space before cosine neighbours? (issue 18; rule first)

The rule, written before any run: ``benchmarks/results/series_whitening/RULE.md``. Per set and split seed one default
recipe run with ``--dev-fraction 0.3`` (its model folder kept under ``--work``); the fit and dev series are encoded by
the saved model (``normalize=False``: the saved space), a ZCA whitening (Ledoit-Wolf covariance) is fitted on the fit
rows, and the saved, whitened and half-whitened spaces are scored by the recipe's four probes. Each cell writes
``<work>/<set>/<seed>/scores.json`` (several processes can share one ``--work``); ``--table`` merges them into
``dev.json`` / ``dev.md``. ``--stage test --runs <out dirs>``: the same scoring on test runs of the recipe (trained on
the whole *_TRAIN file), for the record.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/series_whitening.py --sktime-root <sktime>/datasets/data --work <fresh> [--sets ..]
    .venv/bin/python benchmarks/series_whitening.py --sktime-root <sktime>/datasets/data --work <that folder> --table
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/series_whitening.py --stage test --runs <recipe out dirs>
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from multicl.api import EmbeddingModel
from multicl.data.series_readers import default_test_path, read_series_set
from multicl.utils.whitening import fit_whitening
from multicl.recipes import sequence_contrastive as sc
from multicl.recipes._sequence_eval import embedding_scores
from multicl.utils.paths import shared_data_dir

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _series_sets import PROBES, SHARED_SETS, SKTIME_SETS, probe_table, rule_terms  # noqa: E402

OUT = Path("benchmarks/results/series_whitening")
SPACES = {"raw": "raw series (euclidean; LR / SVM on it)", "saved": "saved space (the default)",
          "zca": "ZCA-whitened (Ledoit-Wolf)", "zca_half": "half-whitened (C^-1/4)"}


def score_spaces(model_dir: Path, fit: list, y_fit: np.ndarray, held: list, y_held: np.ndarray) -> dict[str, dict[str, float]]:
    """{space: {probe: accuracy}} for the saved space and its two whitenings fitted on ``fit``."""
    model = EmbeddingModel.load(model_dir, device="cpu")
    s_fit, s_held = (model.encode(x, normalize=False, show_progress_bar=False).astype(np.float64) for x in (fit, held))
    spaces = {"saved": (s_fit, s_held)}
    for name, power in (("zca", 0.5), ("zca_half", 0.25)):
        w = fit_whitening(s_fit, power=power)
        spaces[name] = (w.apply(s_fit), w.apply(s_held))
    return {name: {p: s[f"x_{p}_accuracy"] for p in PROBES} for name, (a, b) in spaces.items()
            for s in [embedding_scores(a, y_fit, b, y_held, 5, "x")]}


def dev_cell(train_file: Path, seed: int, cell: Path) -> dict:
    metrics = sc.cli(["--train-file", str(train_file), "--dev-fraction", "0.3", "--split-seed", str(seed), "--seed", str(seed),
                      "--device", "cpu", "--precision", "no", "--dtw-band", "-1", "--out-dir", str(cell / "run"), "--overwrite"])
    data = read_series_set(train_file)
    y = data.label_ids(data.class_names or sorted(set(data.labels)))
    fit, y_fit, dev, y_dev = sc.dev_split(data.series, y, 0.3, seed)
    scores = score_spaces(cell / "run" / "model", fit, y_fit, dev, y_dev)
    return {"raw": {p: metrics[f"dev_raw_{p}_accuracy"] for p in PROBES}, **scores}


def test_cell(run: Path) -> dict:
    config = json.loads((run / "config.json").read_text())
    metrics = json.loads((run / "metrics.json").read_text())
    train = read_series_set(config["train_file"])
    test = read_series_set(config["test_file"] or default_test_path(config["train_file"]))
    names = train.class_names or sorted(set(train.labels))
    scores = score_spaces(run / "model", train.series, train.label_ids(names), test.series, test.label_ids(names))
    return {"raw": {p: metrics[f"test_raw_{p}_accuracy"] for p in PROBES}, **scores}


def write_table(results: dict, sets: list[str], seeds: list[int], stage: str, out: Path) -> None:
    text, means = probe_table(results, SPACES, PROBES, sets, seeds, stage)
    text += "".join("\n" + rule_terms(c, means[c], means["saved"], "saved") for c in ("zca", "zca_half"))
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stage}.json").write_text(json.dumps(results, indent=2, sort_keys=True))
    (out / f"{stage}.md").write_text(text + "\n")
    print(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stage", choices=("dev", "test"), default="dev")
    parser.add_argument("--shared-root", type=Path, default=shared_data_dir() / "timeseries")
    parser.add_argument("--sktime-root", type=Path, help="the sktime wheel's sktime/datasets/data folder")
    parser.add_argument("--split-seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--sets", nargs="+", default=list(SHARED_SETS + SKTIME_SETS))
    parser.add_argument("--work", type=Path, help="dev: where the runs and per-cell scores go (fresh)")
    parser.add_argument("--table", action="store_true", help="dev: merge the cells' scores into the table (no runs)")
    parser.add_argument("--runs", type=Path, nargs="+", help="test: recipe out dirs (trained on a whole *_TRAIN file)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    if args.stage == "test":
        results = {}
        for run in args.runs:
            config = json.loads((run / "config.json").read_text())
            results[f"{Path(config['train_file']).name.split('_TRAIN')[0]}/{config['seed']}"] = test_cell(run)
        sets = list(dict.fromkeys(k.split("/")[0] for k in results))
        seeds = sorted({int(k.split("/")[1]) for k in results})
        write_table(results, sets, seeds, "test", args.out)
        return
    if not args.table:
        for ds in args.sets:
            root = args.shared_root if ds in SHARED_SETS else args.sktime_root
            for seed in args.split_seeds:
                cell = args.work / ds / str(seed)
                if not (cell / "scores.json").exists():
                    scores = dev_cell(root / ds / f"{ds}_TRAIN.ts", seed, cell)
                    (cell / "scores.json").write_text(json.dumps(scores, indent=2, sort_keys=True))
    results = {f"{ds}/{s}": json.loads((args.work / ds / str(s) / "scores.json").read_text())
               for ds in args.sets for s in args.split_seeds if (args.work / ds / str(s) / "scores.json").exists()}
    sets = [ds for ds in args.sets if all(f"{ds}/{s}" in results for s in args.split_seeds)]
    if sets:
        write_table(results, sets, args.split_seeds, "dev", args.out)


if __name__ == "__main__":
    main()
