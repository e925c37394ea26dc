"""DINO / SwAV vs InfoNCE on FSDD unseen speakers: dev selection, then the 5-fold test table (issue 18).

Two stages, every recipe run in a fresh temporary out dir (nothing resumes):

* ``--stage dev``: inner leave-one-speaker-out inside an outer fold. For a dev fold
  ``(outer, dev)`` the outer test speaker is dropped from everything (``--drop-speakers``), the
  encoder is pre-trained on the other three speakers and scored on the ``dev`` speaker's clips.
  The outer test speaker is never seen. Defaults are chosen here only.
* ``--stage test``: the usual 5 leave-one-speaker-out folds (pre-train on four, test on the fifth),
  run once, with the settings fixed on dev.

Each run writes ``<out>/<stage>/<config>__<fold>.json`` (the recipe's metrics); the stage's table
(mean ± std over folds, ddof=1) goes to ``<out>/<stage>_table.md`` and ``<out>/<stage>.json``.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/audio_fsdd_dino.py --stage dev --configs infonce dino
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/audio_fsdd_dino.py --stage test --configs infonce dino
    .venv/bin/python benchmarks/audio_fsdd_dino.py --stage dev --table-only     # re-print the table from the files
"""
from __future__ import annotations

import argparse
import json
import shlex
import tempfile
import time
from pathlib import Path

import numpy as np

from multicl.eval.report import format_table

SPEAKERS = ("george", "jackson", "lucas", "nicolas", "theo")
# dev folds: (outer test speaker, left out of everything; inner dev speaker). A fixed inner
# choice (one inner fold per outer fold) because of the CPU budget.
DEV_FOLDS = (("george", "jackson"), ("theo", "nicolas"))
COMMON = ["--device", "cpu", "--precision", "bf16", "--seed", "0"]
_SHORT = ["--max-steps", "150"]  # the CPU budget: ~150 s of pre-training per run on one thread
_CROPS = ["--batch-size", "64", "--local-crops", "2"]
CONFIGS = {
    # the old default recipe (InfoNCE, two views, batch 128), at about DINO's pre-training time
    "infonce": ["--method", "infonce", *_SHORT, "--batch-size", "128"],
    "dino": ["--method", "dino", *_SHORT, *_CROPS, "--dino-momentum", "0.99", "--dino-out-dim", "256"],
    "dino_m0.996_k1024": ["--method", "dino", *_SHORT, *_CROPS, "--dino-momentum", "0.996", "--dino-out-dim", "1024"],
    "swav": ["--method", "swav", *_SHORT, *_CROPS, "--dino-out-dim", "256"],
}
ROWS = [
    ("log-mel mean/std + probe", "test_logmel_stats"),
    ("log-mel CMVN'd stats + probe", "test_logmel_cmvn_stats"),
    ("CNN, random init", "test_random_init"),
]


def folds(stage: str) -> list[tuple[str, list[str]]]:
    """``(fold name, recipe split flags)`` of a stage."""
    if stage == "dev":
        return [(f"{outer}-{dev}", ["--drop-speakers", outer, "--test-speaker", dev]) for outer, dev in DEV_FOLDS]
    return [(s, ["--test-speaker", s]) for s in SPEAKERS]


def run(config: str, args: list[str], fold: str, split: list[str], data: str, out: Path) -> dict:
    from multicl.recipes import audio_contrastive

    with tempfile.TemporaryDirectory(prefix=f"afd_{config}_{fold}_") as tmp:
        start = time.perf_counter()
        metrics = audio_contrastive.cli(["--data-dir", data, *COMMON, *args, *split, "--out-dir", tmp])
        metrics["run_wall_seconds"] = time.perf_counter() - start
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"config": config, "fold": fold, "args": [*COMMON, *args, *split], "metrics": metrics}, indent=2))
    return metrics


def table(stage: str, out: Path) -> str:
    """Mean ± std (ddof=1) over the folds of every run file of the stage, plus per-fold kNN / linear."""
    runs = [json.loads(p.read_text()) for p in sorted((out / stage).glob("*.json"))]
    names = [name for name, _ in folds(stage)]
    by_config: dict[str, dict[str, dict]] = {}
    for r in runs:
        by_config.setdefault(r["config"], {})[r["fold"]] = r["metrics"]

    def cell(rows: dict[str, dict], key: str) -> str:
        values = np.array([rows[f][key] for f in names if f in rows and key in rows[f]])
        if not len(values):
            return "-"
        text = f"{values.mean():.1f} ± {values.std(ddof=1):.1f}" if len(values) > 1 else f"{values[0]:.1f}"
        return text + ("" if len(values) == len(names) else f" ({len(values)} folds)")

    def per_fold(rows: dict[str, dict], key: str) -> str:
        return " / ".join(f"{rows[f][key]:.1f}" if f in rows and key in rows[f] else "-" for f in names)

    lines = []
    first: dict[str, dict] = {}  # raw-feature rows: the same in every config (no training), per fold from any run
    for rows in by_config.values():
        for fold, metrics in rows.items():
            first.setdefault(fold, metrics)
    if first:
        for label, prefix in ROWS:
            lines.append([label, cell(first, f"{prefix}_knn_accuracy"), cell(first, f"{prefix}_linear_accuracy"),
                          per_fold(first, f"{prefix}_knn_accuracy"), per_fold(first, f"{prefix}_linear_accuracy"), "-"])
    for config, rows in by_config.items():
        wall = np.mean([rows[f]["run_wall_seconds"] for f in rows])
        for label, prefix in ((config, "test"), (f"{config} (student)", "test_student"), (f"{config} (teacher)", "test_teacher")):
            if any(f"{prefix}_knn_accuracy" in m for m in rows.values()):
                lines.append([label, cell(rows, f"{prefix}_knn_accuracy"), cell(rows, f"{prefix}_linear_accuracy"),
                              per_fold(rows, f"{prefix}_knn_accuracy"), per_fold(rows, f"{prefix}_linear_accuracy"),
                              f"{wall:.0f}" if prefix == "test" else ""])
    fold_names = " / ".join(names)
    return format_table(lines, ["encoder", "kNN acc", "linear acc", f"kNN per fold ({fold_names})", "linear per fold", "wall s / run"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stage", choices=("dev", "test"), required=True)
    parser.add_argument("--configs", nargs="*", default=[], help=f"named settings: {sorted(CONFIGS)}")
    parser.add_argument("--config", nargs=2, action="append", default=[], metavar=("NAME", "ARGS"),
                        help="an extra named setting: NAME 'recipe flags'")
    parser.add_argument("--data-dir", default="../shared/data/audio/fsdd/recordings")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/audio_fsdd_dino"))
    parser.add_argument("--redo", action="store_true", help="re-run configurations whose result file exists (else they are kept)")
    parser.add_argument("--table-only", action="store_true")
    args = parser.parse_args()
    configs = {name: CONFIGS[name] for name in args.configs}
    configs.update({name: shlex.split(flags) for name, flags in args.config})
    if not args.table_only:
        for config, flags in configs.items():
            for fold, split in folds(args.stage):
                path = args.out / args.stage / f"{config}__{fold}.json"
                if path.exists() and not args.redo:
                    print(f"[audio_fsdd_dino] kept {path} (--redo re-runs it)")
                    continue
                run(config, flags, fold, split, args.data_dir, path)
    text = table(args.stage, args.out)
    (args.out / f"{args.stage}_table.md").write_text(text + "\n")
    runs = {p.stem: json.loads(p.read_text()) for p in sorted((args.out / args.stage).glob("*.json"))}
    (args.out / f"{args.stage}.json").write_text(json.dumps(runs, indent=2))
    print(text)


if __name__ == "__main__":
    main()
