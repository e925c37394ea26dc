"""The UEA/UCR sets of the series dev studies, their command line and the resumable loop over (set, split) cells."""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Callable

from multicl.utils.paths import shared_data_dir

SHARED_SETS = ("BasicMotions", "GunPoint", "PickupGestureWiimoteZ")
SKTIME_SETS = ("JapaneseVowels", "ArrowHead", "ItalyPowerDemand", "OSULeaf")  # ACSF1 and PLAID stay unseen: the check after


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
