"""Many anomaly detectors from one NeuTraL-AD training run: NSL-KDD dev or test (issue 18).

For one ``--eval-split`` (dev: 25% of KDDTrain+_20Percent, fit on the normal rows of the rest;
test: fit on every normal row of KDDTrain+_20Percent, score KDDTest+ / KDDTest-21; later_recording:
the KDD Cup 99 10% file split in time, a dev split with a shift: fit on the distinct normal rows of
the earlier 60% of normal traffic, score the distinct rows recorded after them) and seed, the
recipe's preprocessing (quantile scaling + one-hot) and one NeuTraL-AD model (the recipe's
defaults) give these scores per scored row:

* ``raw_k{k}``: mean squared-L2 distance to the k nearest normal rows (scaled raw features);
* ``neutral``: NeuTraL-AD's loss; ``zemb_k{k}``: cosine kNN distance in NeuTraL-AD's embedding of
  the untransformed row; ``zall_k{k}``: the same on all K+1 views' embeddings, each unit-normalised
  and concatenated;
* ``icl`` (with ``--icl-steps N``): internal contrastive learning's loss (Shenkar & Wolf 2022,
  :mod:`multicl.train.icl`; the authors' sizes, window length and temperature 0.01, batch 256, Adam 1e-3);
* rank means of pairs and triples (``a+b``).

Prints AUROC and detection at 1% false alarms per subset; writes the scores to
``<out>/<split>_seed<seed>.npz`` and the table to ``.md``.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/anomaly_candidates.py --eval-split dev --seed 0
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/anomaly_candidates.py --eval-split later_recording --seed 0
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/anomaly_candidates.py --eval-split dev --seed 0 --icl-steps 1000 --out benchmarks/results/anomaly_icl
    .venv/bin/python benchmarks/anomaly_candidates.py --rank-dev 0 1 [--with-later]   # the selection criterion over stored seeds
    .venv/bin/python benchmarks/anomaly_candidates.py --test-table 0 1 2 --out benchmarks/results/anomaly_icl   # mean ± std over test seeds
"""
from __future__ import annotations

import argparse
import itertools
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

from multicl.data.table_preprocessing import TablePreprocessor
from multicl.eval.anomaly import detection_scores, knn_anomaly_scores, rank_mean
from multicl.eval.report import format_table
from multicl.recipes import security_anomaly as sa
from multicl.recipes.security_threat import raw_features
from multicl.train.icl import ICLModel, icl_scores, train_icl
from multicl.train.neutral_ad import NeuTraLADModel, anomaly_scores, train_neutral_ad, view_embeddings

KS = (1, 5, 10, 20)


def later_recording_data(cfg) -> "sa.AnomalyData":
    """The KDD Cup 99 10% file split in time (:func:`multicl.data.kddcup99.later_recording_split`): fit on the
    distinct normal rows of the earlier 60% of normal traffic, score the distinct rows recorded after them."""
    from multicl.data.kddcup99 import later_recording_split
    from multicl.data.nsl_kdd import read_connection_records

    frame = read_connection_records(cfg.kdd_file).to_frame()
    is_normal = frame["attack"].to_numpy() == "normal"
    frame = frame.drop(columns=["attack"])
    import pandas as pd

    split = later_recording_split(is_normal, pd.util.hash_pandas_object(frame, index=False).to_numpy())
    return sa.AnomalyData(frame.iloc[split.train].reset_index(drop=True),
                          {"later": (frame.iloc[split.test].reset_index(drop=True), split.test_is_anomaly)})


def study_tables(split: str, seed: int) -> SimpleNamespace:
    """One study run's data: ``cfg`` (the recipe's Config), ``pre`` (its preprocessing fitted on the normal fit rows),
    ``train_table`` / ``train_x`` (those rows transformed / as raw vectors) and, per scored subset, ``eval_tables``
    ``{name: (table, is_anomaly)}`` and ``eval_x`` ``{name: raw vectors}``; ``split``: dev, test or later_recording."""
    cfg = sa.Config(eval_split="dev" if split == "later_recording" else split, seed=seed, device="cpu")
    data = later_recording_data(cfg) if split == "later_recording" else sa.load_data(cfg)
    pre = TablePreprocessor(scaling=cfg.scaling).fit(data.train_frame)
    train_table = pre.transform(data.train_frame)
    eval_tables = {name: (pre.transform(frame), y) for name, (frame, y) in data.evals.items()}
    return SimpleNamespace(cfg=cfg, pre=pre, train_table=train_table, train_x=raw_features(train_table, pre.cardinalities),
                           eval_tables=eval_tables, eval_x={n: raw_features(t, pre.cardinalities) for n, (t, _) in eval_tables.items()})


def embed_views(model: NeuTraLADModel, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(the untransformed row's embedding (N, D), all K+1 views unit-normalised and concatenated): cosine kNN
    ignores the scale :func:`view_embeddings` puts on the first block."""
    every = view_embeddings(model, x)
    return every[:, :model.config["embed_dim"]], every


def write_run(out: Path, stem: str, scores: dict[str, dict[str, np.ndarray]], is_anomaly: dict[str, np.ndarray], footer: str) -> str:
    """One run's table (AUROC and detection at 1% false alarms per subset, best first) and scores:
    ``<out>/<stem>.md`` and ``<stem>.npz`` (``<subset>__<detector>`` arrays, as :func:`rank_dev` reads them) -> the table."""
    rows = []
    for det in scores[next(iter(scores))]:
        row = [det]
        for name, y in is_anomaly.items():
            m = detection_scores(scores[name][det], y, prefix="d")
            row += [f"{m['d_auroc']:.2f}", f"{m['d_detection_at_1pct_fpr']:.2f}"]
        rows.append(row)
    rows.sort(key=lambda r: -float(r[1]))
    header = ["detector"] + [f"{n} {k}" for n in is_anomaly for k in ("AUROC", "det@1%")]
    out.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out / f"{stem}.npz", **{f"{n}__{d}": v for n, s in scores.items() for d, v in s.items()},
                        **{f"{n}__is_anomaly": y for n, y in is_anomaly.items()})
    text = f"{format_table(rows, header)}\n{footer}"
    (out / f"{stem}.md").write_text(text + "\n")
    return text


def study_parser(description: str, default_out: Path, detectors: list[str] | None = None) -> argparse.ArgumentParser:
    """The arguments every anomaly study script shares: one run (``--eval-split``, ``--seed``), the stored-run tables
    (``--rank-dev``, ``--test-table``; ``--detectors`` its rows, where the script lets them be chosen) and ``--out``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--eval-split", choices=("dev", "test", "later_recording"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rank-dev", nargs="+", type=int, default=None, metavar="SEED", help="rank the stored dev (+ later-recording) runs")
    parser.add_argument("--test-table", nargs="+", type=int, default=None, metavar="SEED", help="summarise the stored test runs")
    if detectors is not None:
        parser.add_argument("--detectors", nargs="+", default=detectors, help="--test-table: the rows")
    parser.add_argument("--out", type=Path, default=default_out)
    return parser


def stored_tables(args: argparse.Namespace, detectors: list[str], note: str, later: bool = True) -> str | None:
    """``--rank-dev`` / ``--test-table``: the table of the stored runs, written under ``args.out`` and returned; None
    when neither was asked (a run is)."""
    if args.rank_dev is not None:
        text = rank_dev(args.out, args.rank_dev, later)
        (args.out / ("dev_later_ranking.md" if later else "dev_ranking.md")).write_text(text + "\n")
        return text
    if args.test_table is not None:
        text = test_table(args.out, args.test_table, detectors, note)
        (args.out / "test_table.md").write_text(text + "\n")
        return text
    return None


def run_study_main(doc: str, out: Path, note: str, run, detectors: list[str]) -> None:
    """The whole command line of an anomaly study whose ``run(split, seed, out)`` scores one run and returns its table:
    ``--rank-dev`` / ``--test-table`` print the stored tables, otherwise one run (``--eval-split`` required)."""
    parser = study_parser(doc.split("\n\n")[0], out, detectors=detectors)
    args = parser.parse_args()
    text = stored_tables(args, args.detectors, note)
    if text is None:
        if args.eval_split is None:
            parser.error("--eval-split is required (or --rank-dev / --test-table)")
        text = run(args.eval_split, args.seed, args.out)
    print(text)


def rank_dev(out: Path, seeds: list[int], later: bool = False) -> str:
    """The selection criterion, averaged over the stored dev seeds: the mean of NSL-KDD dev and hard-dev AUROC,
    and (``later``) of the KDD Cup 99 later-recording AUROC as a third term."""
    from sklearn.metrics import roc_auc_score

    def aurocs(path: Path) -> dict[str, dict[str, float]]:
        d = np.load(path)
        subsets = sorted({k.split("__")[0] for k in d.files})
        return {s: {k.split("__")[1]: 100 * roc_auc_score(d[f"{s}__is_anomaly"], d[k]) for k in d.files
                    if k.startswith(s + "__") and not k.endswith("is_anomaly")} for s in subsets}

    per: dict[str, list[float]] = {}
    parts: dict[str, list[list[float]]] = {}
    for seed in seeds:
        runs = aurocs(out / f"dev_seed{seed}.npz")
        if later:
            runs |= aurocs(out / f"later_recording_seed{seed}.npz")
        for det in runs["dev"]:
            terms = [runs[s][det] for s in ("dev", "dev_hard", "later") if s in runs]
            per.setdefault(det, []).append(float(np.mean(terms)))
            parts.setdefault(det, []).append(terms)
    names = ["dev", "hard dev"] + (["later recording"] if later else [])
    rows = [[det, f"{np.mean(v):.3f}", " / ".join(f"{x:.3f}" for x in v),
             " / ".join(f"{np.mean([p[i] for p in parts[det]]):.2f}" for i in range(len(names)))]
            for det, v in sorted(per.items(), key=lambda kv: -np.mean(kv[1]))]
    return format_table(rows, ["detector", "criterion (mean over seeds)", f"per seed {seeds}", "AUROC: " + " / ".join(names)])


def test_table(out: Path, seeds: list[int], detectors: list[str], note: str = "one NeuTraL-AD / ICL run per seed; raw kNN is deterministic") -> str:
    """KDDTest+ / KDDTest-21 AUROC and detection at 1% false alarms of ``detectors`` over the stored test seeds
    (mean ± std, ddof=1)."""
    rows = []
    runs = [np.load(out / f"test_seed{seed}.npz") for seed in seeds]
    for det in detectors:
        row = [det]
        for subset in ("test", "test_hard"):
            values = [detection_scores(d[f"{subset}__{det}"], d[f"{subset}__is_anomaly"], prefix="d") for d in runs]
            for key in ("d_auroc", "d_detection_at_1pct_fpr"):
                v = [m[key] for m in values]
                row.append(f"{np.mean(v):.2f} ± {np.std(v, ddof=1):.2f}" if len(v) > 1 else f"{v[0]:.2f}")
        rows.append(row)
    header = ["detector", "KDDTest+ AUROC", "KDDTest+ det@1%", "KDDTest-21 AUROC", "KDDTest-21 det@1%"]
    return format_table(rows, header) + f"\nseeds {seeds} ({note})"


def main() -> None:
    parser = study_parser(__doc__.split("\n\n")[0], Path("benchmarks/results/anomaly_candidates"),
                          detectors=["raw_k1", "raw_k10", "neutral", "raw_k1+neutral", "icl", "raw_k1+icl", "raw_k10+icl", "icl+neutral+raw_k1"])
    parser.add_argument("--with-later", action="store_true", help="--rank-dev: add the later-recording AUROC as a third term")
    parser.add_argument("--steps", type=int, default=0, help="NeuTraL-AD steps (0: the recipe's default); results go to <out>/steps<N>/")
    parser.add_argument("--icl-steps", type=int, default=0, help="also train ICL for this many steps (0: no ICL)")
    args = parser.parse_args()
    if args.steps:
        args.out = args.out / f"steps{args.steps}"
    text = stored_tables(args, args.detectors, "one NeuTraL-AD / ICL run per seed; raw kNN is deterministic", later=args.with_later)
    if text is not None:
        print(text)
        return
    if args.eval_split is None:
        parser.error("--eval-split is required (or --rank-dev)")
    start = time.perf_counter()
    overrides = {"steps": args.steps} if args.steps else {}
    cfg = sa.Config(eval_split="dev" if args.eval_split == "later_recording" else args.eval_split, seed=args.seed, device="cpu", **overrides)
    data = later_recording_data(cfg) if args.eval_split == "later_recording" else sa.load_data(cfg)
    pre = TablePreprocessor(scaling=cfg.scaling).fit(data.train_frame)
    train_x = raw_features(pre.transform(data.train_frame), pre.cardinalities)
    evals = {name: (raw_features(pre.transform(frame), pre.cardinalities), y) for name, (frame, y) in data.evals.items()}
    torch.manual_seed(cfg.seed)
    model = NeuTraLADModel(train_x.shape[1], num_transforms=cfg.num_transforms, transform_kind=cfg.transform_kind, embed_dim=cfg.embed_dim)
    with tempfile.TemporaryDirectory() as tmp:
        model, _ = train_neutral_ad(model, train_x, Path(tmp) / "nad", cfg.steps, cfg.batch_size, cfg.learning_rate, cfg.temperature,
                                    cfg.seed, device="cpu", overwrite=True)
        icl = None
        if args.icl_steps:
            torch.manual_seed(cfg.seed)
            icl, _ = train_icl(ICLModel(train_x.shape[1]), train_x, Path(tmp) / "icl", args.icl_steps, seed=cfg.seed, overwrite=True)
    z_train, zall_train = embed_views(model, train_x)
    scores: dict[str, dict[str, np.ndarray]] = {}
    for name, (x, _) in evals.items():
        s = {f"raw_k{k}": knn_anomaly_scores(train_x, x, k, space="l2") for k in KS}
        s["neutral"] = anomaly_scores(model, x, cfg.temperature)
        if icl is not None:
            s["icl"] = icl_scores(icl, x)
        z, zall = embed_views(model, x)
        for k in (1, 10):
            s[f"zemb_k{k}"] = knn_anomaly_scores(z_train, z, k)
            s[f"zall_k{k}"] = knn_anomaly_scores(zall_train, zall, k)
        base = list(s)
        for a, b in itertools.combinations(base, 2):
            s[f"{a}+{b}"] = rank_mean(s[a], s[b])
        for combo in (("neutral", "raw_k1", "raw_k10"), ("neutral", "raw_k10", "zall_k10"), ("raw_k1", "raw_k10", "zall_k10"),
                      *((("icl", "neutral", "raw_k1"), ("icl", "neutral", "raw_k10")) if icl is not None else ())):
            s["+".join(combo)] = rank_mean(*(s[c] for c in combo))
        scores[name] = s
    footer = f"seed {args.seed}, {args.eval_split}: {len(train_x)} normal fit rows; wall {time.perf_counter() - start:.0f}s"
    text = write_run(args.out, f"{args.eval_split}_seed{args.seed}", scores, {n: y for n, (_, y) in evals.items()}, footer)
    print(text)


if __name__ == "__main__":
    main()
