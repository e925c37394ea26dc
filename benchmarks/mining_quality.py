"""Does mining help, and does the false-negative filter matter? Supervised pairs on NSL-KDD.

Each anchor is a training record; its positive is a view of another record of the same
category (normal, DoS, Probe, R2L, U2R); the objective is InfoNCE (temperature 0.1) over an MLP
encoder + projector. Five runs, same seed, data and steps:

1. in-batch negatives only, label-masked (same-category rows are not negatives);
2. + hard negatives mined once at the start (static, as sentence-transformers does offline);
3. + hard negatives re-mined every ``--refresh-every`` steps (our miner);
4. + re-mined hard negatives *without* the false-negative filter (same policy minus labels,
   in the batch and in the miner), and 5. its in-batch-only counterpart.

Scored on KDDTest+ (5 categories): kNN (k=10, cosine) and linear-probe macro-F1 of the encoder
output; also the false-negative rate of the mined negatives (the share with the anchor's
category) and the wall time.

    .venv/bin/python benchmarks/mining_quality.py --data-dir ../shared/data
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _nsl_kdd_setup import load  # noqa: E402

from multicl.modalities.views_dataset import ViewsDataset  # noqa: E402
from multicl.eval.probe import knn_probe, linear_probe  # noqa: E402
from multicl.eval.report import format_table  # noqa: E402
from multicl.modalities.vector import VectorAdapter, encode_rows  # noqa: E402
from multicl.negatives.masks import FalseNegativePolicy  # noqa: E402
from multicl.negatives.miner import HardNegativeMiner, MinerConfig, corpus_from_dataset  # noqa: E402
from multicl.objectives import build_objective  # noqa: E402
from multicl.train.config import TrainerConfig  # noqa: E402
from multicl.train.learner import ContrastiveLearner  # noqa: E402
from multicl.train.methods import mlp  # noqa: E402
from multicl.train.metrics_log import read_metrics  # noqa: E402
from multicl.train.trainer import Trainer  # noqa: E402

RUNS = {
    "in-batch only (label-masked)": {"mine": None, "filter": True},
    "+ mined once (static)": {"mine": 0, "filter": True},
    "+ mined, refreshed": {"mine": "refresh", "filter": True},
    "+ mined, refreshed, no false-negative filter": {"mine": "refresh", "filter": False},
    "in-batch only, no false-negative filter": {"mine": None, "filter": False},
}


def run(name: str, spec: dict, data, args, out_dir: Path) -> dict:
    torch.manual_seed(args.seed)
    adapter = VectorAdapter(data.train_x, corruption=0.3, labels=data.train_category, positive="same_label")
    policy = FalseNegativePolicy(same_label=spec["filter"])
    miner = None
    if spec["mine"] is not None:
        corpus, meta = corpus_from_dataset(list(range(len(data.train_x))), adapter)
        refresh = args.refresh_every if spec["mine"] == "refresh" else 0
        miner = HardNegativeMiner(corpus, adapter, corpus_meta=meta, policy=policy, log_dir=out_dir,
                                  config=MinerConfig(num_negatives=args.num_negatives, top_k=64, rank_window=(0, args.window),
                                                     refresh_every=refresh, seed=args.seed))
    encoder = adapter.build_encoder()
    learner = ContrastiveLearner(encoder, build_objective("info_nce", temperature=0.1), head=mlp(adapter.embed_dim, 256, 128),
                                 policy=policy, miner=miner)
    cfg = TrainerConfig(out_dir=str(out_dir), max_steps=args.steps, batch_size=args.batch_size, learning_rate=1e-3,
                        weight_decay=1e-5, warmup_ratio=0.05, lr_schedule="cosine", seed=args.seed, device="cpu",
                        progress_bar=False, resume=False, log_every=10)
    start = time.perf_counter()
    Trainer(learner, ViewsDataset(list(range(len(data.train_x))), adapter, seed=args.seed), adapter.collate, cfg).train()
    wall = time.perf_counter() - start
    train_z, test_z = encode_rows(encoder, data.train_x), encode_rows(encoder, data.test_x)
    scores = knn_probe(train_z, data.train_category, test_z, data.test_category, prefix="knn")
    scores.update(linear_probe(train_z, data.train_category, test_z, data.test_category, prefix="linear"))
    scores["wall_seconds"] = wall
    if miner is not None:
        logged = [r["train/mined_false_negative_rate"] for r in read_metrics(out_dir) if "train/mined_false_negative_rate" in r]
        scores["mined_false_negative_rate"] = 100 * float(np.mean(logged))
        refreshes = [json.loads(line) for line in (out_dir / "miner_refreshes.jsonl").read_text().splitlines()]
        scores["refreshes"] = len(refreshes)
        scores["refresh_seconds_mean"] = float(np.mean([r["refresh_seconds"] for r in refreshes]))
    print(name, scores, flush=True)
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--num-negatives", type=int, default=1)
    parser.add_argument("--window", type=int, default=16, help="sample among the first W surviving candidates")
    parser.add_argument("--refresh-every", type=int, default=100)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="macro-F1 over 5 unbalanced classes is noisy: mean and std over seeds")
    parser.add_argument("--runs", type=int, nargs="+", default=list(range(len(RUNS))), help="which rows (0-based)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/mining_quality"))
    args = parser.parse_args()
    torch.set_num_threads(2)
    data = load(args.data_dir)
    results: dict[str, list[dict]] = {}
    for seed in args.seeds:
        args.seed = seed
        for i, (name, spec) in enumerate(RUNS.items()):
            if i in args.runs:
                results.setdefault(name, []).append(run(name, spec, data, args, Path("runs/mining_quality") / f"run{i}_seed{seed}"))

    def stat(runs: list[dict], key: str) -> str:
        if key not in runs[0]:
            return "-"
        values = np.array([r[key] for r in runs])
        return f"{values.mean():.2f} ± {values.std(ddof=1):.2f}" if len(values) > 1 else f"{values[0]:.2f}"

    header = ["run", "kNN macro-F1", "kNN acc", "linear macro-F1", "linear acc", "mined false-neg. %", "wall s"]
    keys = ["knn_macro_f1", "knn_accuracy", "linear_macro_f1", "linear_accuracy", "mined_false_negative_rate", "wall_seconds"]
    rows = [[name, *[stat(runs, k) for k in keys]] for name, runs in results.items()]
    table = f"mean ± std over seeds {args.seeds}\n\n" + format_table(rows, header)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "results": results}, indent=2))
    (args.out / "table.md").write_text(table + "\n")
    print(table)


if __name__ == "__main__":
    main()
