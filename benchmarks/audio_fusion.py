"""Does joining the self-supervised CNN embedding with log-mel statistics beat both? (issue 18)

Each run is the audio recipe with its defaults (400 steps; the InfoNCE rows of docs/audio.md were run when
InfoNCE was the default: ``--recipe-flags=--method=infonce`` repeats them) but ``--fuse-stats none``, in a
fresh temporary out dir; afterwards the saved CNN embeds the probe-training and scored clips, and the same kNN (cosine,
k=5, distance-weighted) and linear probes score:

* ``cnn``: the recipe's embedding; ``stats`` / ``stats_z``: log-mel per-band mean/std, as the recipe's
  baseline (cosine on the raw statistics) and z-scored with the training clips' mean/std;
  ``cmvn_stats`` (+ ``_z``): the same after per-utterance mean normalisation;
* ``fused_a<alpha>_<block>``: ``[unit(cnn), alpha * unit(z(block))]`` with ``block`` one of the two
  statistics: cosine on it is ``(cos_cnn + alpha^2 cos_block) / (1 + alpha^2)`` after unit-normalising;
* ``zca_fused_a0.25_stats`` / ``zca_half_fused_a0.25_stats``: the default's space whitened (ZCA / half, a Ledoit-Wolf
  covariance of the probe-training clips; ``benchmarks/results/audio_whitening/RULE.md``).

Protocols (``--stage dev`` chooses, ``--stage test`` reports once):

* dev: FSDD inner leave-one-speaker-out inside two outer folds (``(george, jackson)``,
  ``(theo, nicolas)``: the outer speaker dropped from everything, train on three, score the dev
  speaker) and a takes dev split (takes 0-4, the recipe's test takes, dropped from everything;
  train on takes 10-49, score takes 5-9). No test clip is read.
* nested (dev, every speaker): for each of the 10 pairs ``{a, b}`` of speakers, one run with both left
  out of everything (``--drop-speakers a --test-speaker b``) that scores each of the two on probes trained
  on the other three: 20 inner folds, every speaker scored 4 times, plus the takes dev split. The inner
  folds of outer test speaker ``b`` are the runs without ``b`` scoring the other speaker, so a per-outer-fold
  choice reads nothing of ``b``. Embeddings are saved (``<fold>.npz``) and ``--rank-nested`` scores every
  fusion weight from them without re-training.
* test: the 5 leave-one-speaker-out folds and the recipe's default takes split (test takes 0-4).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/audio_fusion.py --stage dev
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/audio_fusion.py --stage test --folds george jackson
    .venv/bin/python benchmarks/audio_fusion.py --stage dev --table-only
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/audio_fusion.py --stage nested --recipe-flags=--method=vicreg --out DIR
    .venv/bin/python benchmarks/audio_fusion.py --stage nested --rank-nested --out DIR

Writes ``<out>/<stage>/<fold>.json`` (every row's accuracies, the recipe's metrics, the flags) and
``<out>/<stage>_table.md`` (mean ± std over folds, ddof=1, and per fold).
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import tempfile
import time
from pathlib import Path

import numpy as np

from multicl.data.audio_files import read_clips
from multicl.eval.probe import join_unit_blocks, probe_accuracies
from multicl.eval.report import format_table
from multicl.utils.whitening import fit_whitening
from multicl.utils.environment import run_environment

SPEAKERS = ("george", "jackson", "lucas", "nicolas", "theo")
DEV_FOLDS = {"george-jackson": ["--drop-speakers", "george", "--test-speaker", "jackson"],
             "theo-nicolas": ["--drop-speakers", "theo", "--test-speaker", "nicolas"],
             "takes-dev": "takes"}
TEST_FOLDS = {**{s: ["--test-speaker", s] for s in SPEAKERS}, "takes": []}
NESTED_FOLDS = {**{f"{a}+{b}": ["--drop-speakers", a, "--test-speaker", b]
                   for i, a in enumerate(SPEAKERS) for b in SPEAKERS[i + 1:]}, "takes-dev": "takes"}
STAGES = {"dev": DEV_FOLDS, "nested": NESTED_FOLDS, "test": TEST_FOLDS}
ALPHAS = (0.25, 0.35, 0.5, 0.7, 1.0)


def takes_dev_dir(data: Path, into: Path) -> Path:
    """Links to the clips with take >= 5, renumbered take - 5, so the recipe's test takes 0-4 are the
    original takes 5-9 and training is takes 10-49; the original takes 0-4 are not linked."""
    into.mkdir(parents=True, exist_ok=True)
    for wav in sorted(data.glob("*.wav")):
        label, speaker, take = wav.stem.split("_")
        if int(take) >= 5:
            (into / f"{label}_{speaker}_{int(take) - 5}.wav").symlink_to(wav.resolve())
    return into


def zscore(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean, std = train.mean(0), train.std(0) + 1e-6
    return (train - mean) / std, (test - mean) / std


def rows_of(cnn, stats, cmvn_stats, y_train, y_test, k: int) -> dict[str, float]:
    """Every probed representation -> ``{row}_knn_accuracy``, ``{row}_linear_accuracy``."""
    (cnn_tr, cnn_te), out = cnn, {}
    blocks = {"stats": stats, "cmvn_stats": cmvn_stats}
    out.update(probe_accuracies(cnn_tr, y_train, cnn_te, y_test, k, "cnn"))
    for name, (tr, te) in blocks.items():
        out.update(probe_accuracies(tr, y_train, te, y_test, k, name))
        ztr, zte = zscore(tr, te)
        out.update(probe_accuracies(ztr, y_train, zte, y_test, k, f"{name}_z"))
        for alpha in ALPHAS:
            ftr = join_unit_blocks(cnn_tr, ztr, weights=(1.0, alpha))
            fte = join_unit_blocks(cnn_te, zte, weights=(1.0, alpha))
            out.update(probe_accuracies(ftr, y_train, fte, y_test, k, f"fused_a{alpha}_{name}"))
            if (name, alpha) == ("stats", 0.25):  # the default's saved space, whitened (benchmarks/results/audio_whitening)
                for label, power in (("zca", 0.5), ("zca_half", 0.25)):
                    w = fit_whitening(ftr, power=power)
                    out.update(probe_accuracies(w.apply(ftr), y_train, w.apply(fte), y_test, k, f"{label}_fused_a{alpha}_{name}"))
    return out


def run_fold(fold: str, split, data: Path, out: Path, seed: int, extra: list[str]) -> dict:
    from multicl.api import EmbeddingModel
    from multicl.recipes import audio_contrastive as ac
    from multicl.recipes._cli import config_from_args

    with tempfile.TemporaryDirectory(prefix=f"afu_{fold}_") as tmp:
        data_dir = takes_dev_dir(data, Path(tmp) / "clips") if split == "takes" else data
        flags = [] if split == "takes" else split
        # --fuse-stats none: the saved model is the CNN alone; every fusion is made here from it
        argv = ["--data-dir", str(data_dir), "--device", "cpu", "--seed", str(seed), "--fuse-stats", "none", *flags, *extra,
                "--out-dir", str(Path(tmp) / "run")]
        start = time.perf_counter()
        metrics = ac.cli(argv)
        cfg = config_from_args(ac.Config, argv, "")  # the run's own configuration, read as the recipe reads it
        train, test, _ = ac.load_data(cfg)
        model = EmbeddingModel.load(Path(tmp) / "run" / "model")
        sr = cfg.sample_rate
        cnn = tuple(model.encode([(w, sr) for w in clips.waveforms], show_progress_bar=False) for clips in (train, test))
        names = sorted(set(train.labels) | set(test.labels))
        y_train = np.array([names.index(label) for label in train.labels])
        y_test = np.array([names.index(label) for label in test.labels])
        adapter = ac.make_adapter(train, None, cfg, ac.WaveViews(), cfg.specaugment)
        stats = tuple(ac.logmel_stats(adapter, clips.waveforms) for clips in (train, test))
        cmvn_stats = tuple(ac.logmel_stats(adapter, clips.waveforms, "mean") for clips in (train, test))
        arrays = {"y_train": y_train, "cnn_train": cnn[0], "stats_train": stats[0], "cmvn_train": cmvn_stats[0]}
        scored_key = cfg.test_speaker or "test"
        scored = {scored_key: (y_test, cnn[1], stats[1], cmvn_stats[1])}
        left_out = cfg.drop_speakers if split != "takes" and cfg.test_speaker else ()
        every = read_clips(data_dir, sr).labelled if left_out else None
        for speaker in left_out:
            # a left-out speaker: never seen in pre-training or by the probes, scored like the test speaker
            clips = every.subset(lambda i: every.groups[i] == speaker)
            scored[speaker] = (np.array([names.index(label) for label in clips.labels]),
                               model.encode([(w, sr) for w in clips.waveforms], show_progress_bar=False),
                               ac.logmel_stats(adapter, clips.waveforms), ac.logmel_stats(adapter, clips.waveforms, "mean"))
        for speaker, (y, c, st, cm) in scored.items():
            arrays.update({f"y_{speaker}": y, f"cnn_{speaker}": c, f"stats_{speaker}": st, f"cmvn_{speaker}": cm})
        by_speaker = {speaker: rows_of((cnn[0], c), (stats[0], st), (cmvn_stats[0], cm), y_train, y, cfg.knn_k)
                      for speaker, (y, c, st, cm) in scored.items()}
        rows = by_speaker[scored_key]
        # the saved model's embedding must be the recipe's own (same probes, same clips)
        assert abs(rows["cnn_knn_accuracy"] - metrics["test_knn_accuracy"]) < 1e-6, (rows["cnn_knn_accuracy"], metrics["test_knn_accuracy"])
        wall = time.perf_counter() - start
    result = {"fold": fold, "argv": argv[2:], "seed": seed, "rows": rows, "rows_by_speaker": by_speaker, "knn_k": cfg.knn_k,
              "recipe_metrics": metrics, "environment": run_environment("cpu"), "wall_seconds": wall, "train_clips": len(train), "scored_clips": len(test)}
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out.with_suffix(".npz"), **arrays)
    out.write_text(json.dumps(result, indent=2))
    return result


def nested_ranking(stage_dir: Path, weights: tuple[float, float] = (2.0, 1.0)) -> str:
    """Every representation on the nested dev folds: kNN and linear per inner fold (run ``a+b`` scoring ``a`` or
    ``b``), the unseen-speaker term S = mean over the 20 inner folds of (kNN + linear) / 2, the takes term T
    = (kNN + linear) / 2 on takes-dev, the criterion ``(2 S + T) / 3`` (the dev stage's 2 speaker folds : 1 takes
    fold), and per outer test speaker the representation its own 4 inner folds (+ takes-dev) choose."""
    runs = {f: json.loads((stage_dir / f"{f}.json").read_text()) for f in NESTED_FOLDS if (stage_dir / f"{f}.json").exists()}
    missing = [f for f in NESTED_FOLDS if f not in runs]
    if missing:
        raise SystemExit(f"{stage_dir}: folds {missing} not run yet")
    inner = [(f, s) for f in NESTED_FOLDS if f != "takes-dev" for s in f.split("+")]  # (run, scored speaker)
    reps = sorted(k[: -len("_knn_accuracy")] for k in runs["takes-dev"]["rows"] if k.endswith("_knn_accuracy"))

    def term(rows: dict, rep: str) -> float:
        return (rows[f"{rep}_knn_accuracy"] + rows[f"{rep}_linear_accuracy"]) / 2

    takes = runs["takes-dev"]["rows"]
    scores, lines = {}, []
    for rep in reps:
        per = {(f, s): runs[f]["rows_by_speaker"][s] for f, s in inner}
        speaker_term = float(np.mean([term(r, rep) for r in per.values()]))
        knn = float(np.mean([r[f"{rep}_knn_accuracy"] for r in per.values()]))
        linear = float(np.mean([r[f"{rep}_linear_accuracy"] for r in per.values()]))
        crit = (weights[0] * speaker_term + weights[1] * term(takes, rep)) / sum(weights)
        scores[rep] = (crit, per)
        by_scored = " / ".join(f"{np.mean([r[f'{rep}_knn_accuracy'] for (f, s), r in per.items() if s == sp]):.1f}" for sp in SPEAKERS)
        lines.append([rep, f"{crit:.2f}", f"{knn:.1f}", f"{linear:.1f}", by_scored,
                      f"{takes[f'{rep}_knn_accuracy']:.1f} / {takes[f'{rep}_linear_accuracy']:.1f}"])
    lines.sort(key=lambda line: -float(line[1]))
    head = ["representation", "criterion (2 S + T) / 3", "kNN, 20 inner folds", "linear, 20 inner folds",
            "kNN by scored speaker (" + " / ".join(SPEAKERS) + ")", "takes-dev kNN / linear"]
    text = format_table(lines, head)
    choices = []
    for outer in SPEAKERS:
        # inner folds of outer speaker b: runs without b that score the other speaker
        own = [(f, s) for f, s in inner if outer in f.split("+") and s != outer]

        def outer_crit(rep: str) -> float:
            per = scores[rep][1]
            s_term = float(np.mean([term(per[key], rep) for key in own]))
            return (weights[0] * s_term + weights[1] * term(takes, rep)) / sum(weights)

        best = max(reps, key=outer_crit)
        choices.append([outer, best, f"{outer_crit(best):.2f}", ", ".join(f"{s} ({f})" for f, s in own)])
    text += "\n\nPer outer test speaker, chosen on its own inner folds (+ takes-dev):\n\n"
    text += format_table(choices, ["outer test speaker", "choice", "its criterion", "inner folds (scored speaker, run)"])
    return text


def table(stage_dir: Path, folds: list[str]) -> str:
    runs = {p.stem: json.loads(p.read_text()) for p in sorted(stage_dir.glob("*.json"))}
    names = [f for f in folds if f in runs]
    if not names:
        return "(no runs)"
    keys = sorted({k[: -len("_knn_accuracy")] for k in runs[names[0]]["rows"] if k.endswith("_knn_accuracy")})
    speaker_folds = [f for f in names if "takes" not in f]

    def cell(row: str, probe: str, subset: list[str]) -> str:
        v = np.array([runs[f]["rows"][f"{row}_{probe}_accuracy"] for f in subset])
        if not len(v):
            return "-"
        return f"{v.mean():.1f} ± {v.std(ddof=1):.1f}" if len(v) > 1 else f"{v[0]:.1f}"

    lines = []
    for row in keys:
        per = " / ".join(f"{runs[f]['rows'][row + '_knn_accuracy']:.1f}|{runs[f]['rows'][row + '_linear_accuracy']:.1f}" for f in names)
        lines.append([row, cell(row, "knn", speaker_folds), cell(row, "linear", speaker_folds), per])
    head = ["representation", f"kNN, {len(speaker_folds)} speaker folds", "linear, speaker folds", "kNN|linear per fold (" + " / ".join(names) + ")"]
    return format_table(lines, head)


def seeds_table(outs: list[Path], rows: list[str]) -> str:
    """Over seeds (one ``--out`` folder per seed, each with a full test stage): mean ± std (ddof=1) of the
    5-fold unseen-speaker means, and of the takes split, per probe."""
    per_seed = []
    for out in outs:
        runs = {p.stem: json.loads(p.read_text())["rows"] for p in (out / "test").glob("*.json")}
        missing = [f for f in TEST_FOLDS if f not in runs]
        if missing:
            raise SystemExit(f"{out}: folds {missing} not run yet")
        per_seed.append(runs)

    def cell(values: list[float]) -> str:
        v = np.array(values)
        return f"{v.mean():.1f} ± {v.std(ddof=1):.1f}" if len(v) > 1 else f"{v[0]:.1f}"

    lines = []
    for row in rows:
        speakers = {p: [float(np.mean([r[s][f"{row}_{p}_accuracy"] for s in SPEAKERS])) for r in per_seed] for p in ("knn", "linear")}
        takes = {p: [r["takes"][f"{row}_{p}_accuracy"] for r in per_seed] for p in ("knn", "linear")}
        lines.append([row, cell(speakers["knn"]), cell(speakers["linear"]), cell(takes["knn"]), cell(takes["linear"])])
    return format_table(lines, ["representation", "unseen speakers kNN (5-fold mean)", "unseen speakers linear", "takes kNN", "takes linear"])


SUMMARY_ROWS = ["stats", "stats_z", "cmvn_stats", "cmvn_stats_z", "cnn", "fused_a1.0_stats", "fused_a0.25_stats", "fused_a0.35_stats",
                "fused_a0.25_cmvn_stats", "fused_a0.5_cmvn_stats", "zca_half_fused_a0.25_stats", "zca_fused_a0.25_stats"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stage", choices=tuple(STAGES), required=True)
    parser.add_argument("--folds", nargs="*", default=None, help="subset of the stage's folds (default: all)")
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/data/audio/fsdd/recordings"))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/audio_fusion"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--table-only", action="store_true")
    parser.add_argument("--rank-nested", action="store_true", help="--stage nested: print and write the ranking of every representation")
    parser.add_argument("--seed-dirs", nargs="+", type=Path, default=None,
                        help="print the over-seeds table of these --out folders (each a full test stage) and exit")
    parser.add_argument("--max-steps", type=int, default=None, help="override the recipe's default (smoke runs only)")
    parser.add_argument("--recipe-flags", default="", help='more recipe flags for every run, one string (e.g. "--method swav")')
    args = parser.parse_args()
    if args.seed_dirs:
        text = seeds_table(args.seed_dirs, SUMMARY_ROWS) + f"\nseeds: one per folder {[str(d) for d in args.seed_dirs]}; ddof=1 over seeds"
        (args.seed_dirs[0] / "seeds_table.md").write_text(text + "\n")
        print(text)
        return
    extra = ([] if args.max_steps is None else ["--max-steps", str(args.max_steps)]) + shlex.split(args.recipe_flags)
    all_folds = STAGES[args.stage]
    chosen = args.folds or list(all_folds)
    if args.rank_nested:
        text = nested_ranking(args.out / "nested")
        (args.out / "nested_ranking.md").write_text(text + "\n")
        print(text)
        return
    if not args.table_only:
        for fold in chosen:
            path = args.out / args.stage / f"{fold}.json"
            if path.exists():
                print(f"[audio_fusion] kept {path} (delete it to re-run)")
                continue
            run_fold(fold, all_folds[fold], args.data_dir, path, args.seed, extra)
    text = table(args.out / args.stage, list(all_folds))
    (args.out / f"{args.stage}_table.md").write_text(text + "\n")
    print(f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '-')}, seed {args.seed}")
    print(text)


if __name__ == "__main__":
    main()
