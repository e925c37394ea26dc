"""Plots and tables for run reports."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence


def plot_training_curve(records: Sequence[dict[str, Any]], path: str | Path, eval_key: str | None = None) -> Path:
    """Training loss (left axis) and an evaluation metric (right axis) against step -> PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    train = [(r["step"], r["train/loss"]) for r in records if "train/loss" in r]
    fig, ax = plt.subplots(figsize=(7, 4))
    if train:
        ax.plot([s for s, _ in train], [v for _, v in train], color="tab:blue", label="train loss")
    ax.set_xlabel("step")
    ax.set_ylabel("train loss", color="tab:blue")
    if eval_key:
        evals = [(r["step"], r[f"eval/{eval_key}"]) for r in records if f"eval/{eval_key}" in r]
        if evals:
            ax2 = ax.twinx()
            ax2.plot([s for s, _ in evals], [v for _, v in evals], "o-", color="tab:red", label=eval_key)
            ax2.set_ylabel(eval_key, color="tab:red")
    ax.set_title("training curve")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)
    return path


def format_table(rows: Sequence[Sequence[Any]], header: Sequence[str]) -> str:
    """A GitHub-markdown table."""
    cells = [[str(h) for h in header]] + [[f"{c:.2f}" if isinstance(c, float) else str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |" for r in cells]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)
