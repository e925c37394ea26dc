"""The collapse monitor catching real collapses on NSL-KDD records.

Four runs with the same MLP encoder, data and budget: BYOL and BYOL without its predictor;
SimSiam and SimSiam without its stop-gradient. The monitor measures alignment, uniformity,
effective rank and per-dimension std of the encoder's output on a fixed probe batch every
``--every`` steps and stops a run when uniformity rises towards 0 while the loss keeps
falling. Writes docs/collapse_monitor.png and prints the monitor's log lines.

    python benchmarks/collapse_demo.py --data-dir ../shared/data
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parent))

from _nsl_kdd_setup import load, probe, train_method  # noqa: E402

from multicl.modalities.views_dataset import ViewsDataset  # noqa: E402
from multicl.eval.report import format_table  # noqa: E402
from multicl.train.monitor import CollapseMonitor  # noqa: E402

RUNS = ["byol", "byol_no_predictor", "simsiam", "simsiam_no_stop_gradient"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default="../shared/data")
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--every", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="docs/collapse_monitor.png")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    data = load(Path(args.data_dir))
    histories, rows = {}, []
    for method in RUNS:
        monitors = []

        def make_monitor(adapter):
            probe_items = ViewsDataset(list(range(len(data.train_x))), adapter, seed=12345)
            batch = adapter.collate([probe_items[i] for i in range(0, 20000, 40)])  # 500 fixed records
            monitors.append(CollapseMonitor(batch, every=args.every))
            return monitors[-1]

        with tempfile.TemporaryDirectory() as tmp:
            encoder, summary, adapter = train_method(method, data, Path(tmp), args.steps, args.batch_size, args.seed, monitor=make_monitor)
            records = [json.loads(line) for line in (Path(tmp) / "metrics.jsonl").read_text().splitlines()]
        scores = probe(encoder, data, adapter)
        histories[method] = records
        rows.append([method, summary["steps"], summary["stopped_early"] or "no", scores["knn_accuracy"], scores["uniformity"]])
        print(f"[{method}] stopped early: {summary['stopped_early']}", flush=True)
    print(format_table(rows, ["run", "steps", "collapse rule fired", "kNN acc", "test uniformity"]))
    plot(histories, Path(args.out))


def plot(histories, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(18, 4))
    for method, records in histories.items():
        style = "--" if "no_" in method else "-"
        train = [(r["step"], r["train/loss"]) for r in records if "train/loss" in r]
        mon = [r for r in records if "monitor/uniformity" in r]
        axes[0].plot([s for s, _ in train], [v for _, v in train], style, label=method)
        for ax, key in zip(axes[1:], ("uniformity", "effective_rank", "dim_std")):
            ax.plot([r["step"] for r in mon], [r[f"monitor/{key}"] for r in mon], style + "o", markersize=3, label=method)
    for ax, title in zip(axes, ("train loss", "uniformity (lower = spread)", "effective rank", "per-dim std")):
        ax.set_title(title)
        ax.set_xlabel("step")
    axes[0].legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
