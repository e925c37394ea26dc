"""Shared set-up for the NSL-KDD objective benchmarks: features, SSL training, probes."""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from multicl.data.nsl_kdd import ConnectionFeaturizer, read_connection_records
from multicl.modalities.views_dataset import ViewsDataset
from multicl.eval.probe import knn_probe, linear_probe
from multicl.modalities.vector import VectorAdapter, encode_rows
from multicl.train.config import TrainerConfig
from multicl.train.methods import build_learner
from multicl.train.monitor import embedding_health
from multicl.train.trainer import Trainer


@dataclass
class KDDData:
    train_x: np.ndarray
    train_category: np.ndarray
    test_x: np.ndarray
    test_category: np.ndarray
    test_attack: np.ndarray


def load(data_dir: Path) -> KDDData:
    folder = data_dir / "security" / "nsl_kdd"
    train = read_connection_records(folder / "KDDTrain+_20Percent.txt")
    test = read_connection_records(folder / "KDDTest+.txt")
    featurizer = ConnectionFeaturizer().fit(train)
    return KDDData(featurizer.transform(train), train.category, featurizer.transform(test), test.category, test.is_attack)


def probe(encoder: torch.nn.Module | None, data: KDDData, adapter: VectorAdapter, seed: int = 0) -> dict[str, float]:
    """kNN (k=10) and linear probe on the 5 categories, kNN on attack-vs-normal, and the
    alignment/uniformity of test embeddings under the training views."""
    if encoder is None:
        train_z, test_z = data.train_x, data.test_x
    else:
        train_z, test_z = encode_rows(encoder, data.train_x), encode_rows(encoder, data.test_x)
    out = knn_probe(train_z, data.train_category, test_z, data.test_category, prefix="knn")
    out.update(linear_probe(train_z, data.train_category, test_z, data.test_category, prefix="linear"))
    binary = knn_probe(train_z, (data.train_category > 0).astype(int), test_z, data.test_attack, prefix="knn_binary")
    out["knn_binary_accuracy"] = binary["knn_binary_accuracy"]
    if encoder is not None:
        rng = np.random.default_rng(seed)
        rows = rng.choice(len(data.test_x), size=2048, replace=False)
        views = [adapter._view(data.test_x[i], rng) for i in rows for _ in range(2)]
        z = torch.from_numpy(encode_rows(encoder, np.stack(views)))
        health = embedding_health(z[0::2], z[1::2])
        out.update(alignment=health["alignment"], uniformity=health["uniformity"], effective_rank=health["effective_rank"])
    return out


def train_method(method: str, data: KDDData, out_dir: Path, steps: int, batch_size: int, seed: int,
                 monitor: Any = None, learning_rate: float = 1e-3) -> tuple[torch.nn.Module, dict[str, Any], VectorAdapter]:
    torch.manual_seed(seed)
    adapter = VectorAdapter(data.train_x, corruption=0.3, labels=data.train_category)
    learner = build_learner(method, adapter.build_encoder(), adapter.embed_dim, total_steps=steps,
                            dataset_size=len(data.train_x), queue_size=4096)
    cfg = TrainerConfig(out_dir=str(out_dir), max_steps=steps, batch_size=batch_size, learning_rate=learning_rate,
                        weight_decay=1e-5, warmup_ratio=0.05, lr_schedule="cosine", seed=seed, device="cpu",
                        progress_bar=False, resume=False, log_every=10)
    start = time.perf_counter()
    trainer = Trainer(learner, ViewsDataset(list(range(len(data.train_x))), adapter, seed=seed), adapter.collate, cfg,
                      monitor=monitor(adapter) if monitor else None)
    summary = trainer.train()
    summary["wall_seconds"] = time.perf_counter() - start
    return learner.encoder, summary, adapter
