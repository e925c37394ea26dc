"""The audio recipe on the Free Spoken Digit Dataset: the usual take split and leave-one-speaker-out.

Runs ``multicl.recipes.audio_contrastive`` (same settings everywhere) on
1. takes 5-49 train / 0-4 test, with the view ablations;
2. leave-one-speaker-out for each speaker given (train on the other four, test on the unseen one),
and prints one table: accuracy per row, the unseen-speaker column averaged over the folds (mean ±
std over folds), then the SSL-vs-log-mel kNN accuracy of each fold. Flags the benchmark does not
know are passed on to the recipe (e.g. ``--cmvn none`` to run without the normalisation,
``--method infonce`` for the old SimCLR-style default). The DINO-vs-InfoNCE comparison with dev
selection is ``benchmarks/audio_fsdd_dino.py``.

    .venv/bin/python benchmarks/audio_fsdd.py --data-dir ../shared/data --max-steps 500 --supervised-steps 500 \
        --precision bf16 --speakers george theo
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch

from multicl.eval.report import format_table
from multicl.recipes import audio_contrastive

ROWS = [
    ("log-mel mean/std + probe", "test_logmel_stats_knn_accuracy", "test_logmel_stats_linear_accuracy"),
    ("CNN, random init", "test_random_init_knn_accuracy", "test_random_init_linear_accuracy"),
    ("CNN, self-supervised (--method), no labels (ours)", "test_knn_accuracy", "test_linear_accuracy"),
    ("  DINO student encoder", "test_student_knn_accuracy", "test_student_linear_accuracy"),
    ("  DINO teacher encoder", "test_teacher_knn_accuracy", "test_teacher_linear_accuracy"),
    ("log-mel CMVN'd std + probe (the encoder's normalisation)", "test_logmel_cmvn_stats_knn_accuracy", "test_logmel_cmvn_stats_linear_accuracy"),
    ("CNN, supervised cross-entropy (kNN column: kNN on its features; linear column: its own softmax head)",
     "test_supervised_cnn_features_knn_accuracy", "test_supervised_cnn_accuracy"),
    ("CNN, supervised contrastive (SupCon)", "test_supcon_knn_accuracy", "test_supcon_linear_accuracy"),
    ("contrastive without SpecAugment", "test_no_specaugment_knn_accuracy", "test_no_specaugment_linear_accuracy"),
    ("contrastive without crop", "test_no_crop_knn_accuracy", "test_no_crop_linear_accuracy"),
    ("contrastive without noise", "test_no_noise_knn_accuracy", "test_no_noise_linear_accuracy"),
    ("contrastive without CMVN", "test_no_cmvn_knn_accuracy", "test_no_cmvn_linear_accuracy"),
    ("contrastive without speed / mel-warp views", "test_no_speed_warp_knn_accuracy", "test_no_speed_warp_linear_accuracy"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    parser.add_argument("--speakers", nargs="*", default=["george", "jackson", "lucas", "nicolas", "theo"])
    parser.add_argument("--max-steps", type=int, default=600)
    parser.add_argument("--supervised-steps", type=int, default=0, help="supervised CE / SupCon rows (0: off, the recipe's default)")
    parser.add_argument("--precision", default="auto", help="bf16 halves the CNN's time on CPUs with AMX")
    parser.add_argument("--takes-ablations", action=argparse.BooleanOptionalAction, default=True, help="run the view ablations on the take split")
    parser.add_argument("--loso-ablations", action="store_true", help="also run the view ablations in every unseen-speaker fold")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/audio_fsdd"))
    parser.add_argument("--runs-dir", type=Path, default=Path("runs/audio_fsdd"))
    args, recipe_args = parser.parse_known_args()
    recordings = str(args.data_dir / "audio" / "fsdd" / "recordings")
    common = ["--data-dir", recordings, "--device", "cpu", "--max-steps", str(args.max_steps),
              "--supervised-steps", str(args.supervised_steps), "--precision", args.precision, *recipe_args]
    results = {}
    start = time.perf_counter()
    results["takes"] = audio_contrastive.cli([*common, "--out-dir", str(args.runs_dir / "takes"), *(["--ablations"] if args.takes_ablations else [])])
    for speaker in args.speakers:
        results[f"unseen_{speaker}"] = audio_contrastive.cli([*common, "--out-dir", str(args.runs_dir / f"loso_{speaker}"), "--test-speaker", speaker,
                                                               *(["--ablations"] if args.loso_ablations else [])])
    wall = time.perf_counter() - start
    folds = [results[f"unseen_{s}"] for s in args.speakers]

    def loso(key: str) -> str:
        values = np.array([f[key] for f in folds if key in f])
        if not len(values):
            return "-"
        return f"{values.mean():.1f} ± {values.std(ddof=1):.1f}" if len(values) > 1 else f"{values[0]:.1f}"

    rows = []
    takes = results["takes"]
    for name, knn, linear in ROWS:
        if knn not in takes and not any(knn in f for f in folds):
            continue  # e.g. the CMVN'd baseline when the recipe runs without CMVN
        rows.append([name, f"{takes[knn]:.1f}" if knn in takes else "-", f"{takes[linear]:.1f}" if linear in takes else "-",
                     loso(knn), loso(linear)])
    table = format_table(rows, ["encoder", "takes 0-4: kNN acc", "takes 0-4: linear acc",
                                f"unseen speaker ({len(folds)} folds): kNN acc", "unseen speaker: linear acc"])
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps({"wall_seconds": wall, "results": results}, indent=2))
    walls = ", ".join(f"{k}: {v['wall_seconds']:.0f}s" for k, v in results.items())
    per_fold = "; ".join(f"{s}: {f['test_knn_accuracy']:.1f} vs {f['test_logmel_stats_knn_accuracy']:.1f}" for s, f in zip(args.speakers, folds))
    settings = " ".join(["--max-steps", str(args.max_steps), "--supervised-steps", str(args.supervised_steps), "--precision", args.precision,
                         *([] if args.takes_ablations else ["--no-takes-ablations"]), *recipe_args])
    (args.out / "table.md").write_text(f"{table}\n\nunseen speaker, contrastive kNN vs log-mel mean/std kNN per fold: {per_fold}\n"
                                       f"recipe settings: defaults + {settings}\n"
                                       f"wall per recipe run ({torch.get_num_threads()} torch threads, {os.cpu_count()} CPU cores): {walls}; total {wall:.0f}s\n")
    print(table)
    print(per_fold)
    print(walls)


if __name__ == "__main__":
    main()
