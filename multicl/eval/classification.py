"""Classification scores of predictions: accuracy, macro-F1, per-class recall, confusion matrix."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, recall_score


def classification_scores(y_true, y_pred, class_names: Sequence[str], prefix: str) -> dict[str, float]:
    """``{prefix}_accuracy``, ``{prefix}_macro_f1`` and ``{prefix}_recall_{class}`` (x100)."""
    labels = np.arange(len(class_names))
    recalls = recall_score(y_true, y_pred, labels=labels, average=None, zero_division=0)
    out = {f"{prefix}_accuracy": 100 * accuracy_score(y_true, y_pred),
           f"{prefix}_macro_f1": 100 * f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)}
    out.update({f"{prefix}_recall_{name}": 100 * float(r) for name, r in zip(class_names, recalls)})
    return out


def plot_confusion(y_true, y_pred, class_names: Sequence[str], path: str | Path, title: str) -> np.ndarray:
    """Row-normalised confusion matrix as a PNG (counts in each cell); returns the counts."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts = confusion_matrix(y_true, y_pred, labels=np.arange(len(class_names)))
    share = counts / np.clip(counts.sum(1, keepdims=True), 1, None)
    fig, ax = plt.subplots(figsize=(1.2 * len(class_names) + 2, 1.2 * len(class_names) + 1.5))
    ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(class_names)), class_names, rotation=45)
    ax.set_yticks(range(len(class_names)), class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(len(class_names)):
        for j in range(len(class_names)):
            ax.text(j, i, f"{counts[i, j]}", ha="center", va="center", color="white" if share[i, j] > 0.5 else "black", fontsize=8)
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return counts
