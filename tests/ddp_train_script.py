"""Worker for test_ddp.py: trains a tiny text model under DDP (gloo, CPU) with mined hard
negatives (the corpus embedded in shards, one per rank, then gathered) and writes a fingerprint
of its final weights and mined candidates per rank. Run with torch.distributed.run."""
import json
import sys
from pathlib import Path

import numpy as np
import torch

from multicl.modalities.views_dataset import ViewsDataset
from multicl.modalities.text import TextAdapter, TextSample
from multicl.modalities.vector import VectorAdapter
from multicl.negatives.miner import HardNegativeMiner, MinerConfig, corpus_from_dataset
from multicl.objectives import build_objective
from multicl.train.config import TrainerConfig
from multicl.train.learner import ContrastiveLearner
from multicl.train.momentum import MomentumSchedule
from multicl.train.trainer import Trainer


def main(model_path: str, out_dir: str) -> None:
    torch.manual_seed(0)
    adapter = TextAdapter.from_pretrained(model_path, max_length=16)
    samples = [TextSample(f"sentence {i} about topic {i % 5}") for i in range(48)]
    corpus, meta = corpus_from_dataset(samples, adapter)
    miner = HardNegativeMiner(corpus, adapter, corpus_meta=meta, config=MinerConfig(refresh_every=2, embed_batch_size=5, index="exact"))
    learner = ContrastiveLearner(adapter.build_encoder(), build_objective("info_nce", temperature=0.1), miner=miner)
    cfg = TrainerConfig(out_dir=out_dir, max_steps=4, batch_size=6, learning_rate=1e-3, progress_bar=False, device="cpu", save_every=2)
    trainer = Trainer(learner, ViewsDataset(samples, adapter), adapter.collate, cfg)
    summary = trainer.train()
    acc = trainer.accelerator
    fingerprint = sum(float(p.double().sum()) for p in learner.parameters())
    record = {"fingerprint": fingerprint, "mined": miner._candidates.tolist(), "refreshes": miner.refreshes, "world": acc.num_processes,
              "steps": summary["steps"], "distributed_type": str(acc.distributed_type)}
    record.update(moco_queue(out_dir))
    Path(out_dir, f"rank{acc.process_index}.json").write_text(json.dumps(record))


def moco_queue(out_dir: str) -> dict:
    """MoCo under DDP: every rank enqueues the keys of all ranks, so the queues stay identical."""
    x = np.random.default_rng(0).normal(size=(64, 6)).astype(np.float32)
    adapter = VectorAdapter(x, corruption=0.2, embed_dim=8, hidden_dims=(16,))
    torch.manual_seed(0)
    learner = ContrastiveLearner(adapter.build_encoder(), build_objective("info_nce"), momentum=MomentumSchedule(0.9, 0.9),
                                 queue_size=48, embed_dim=8, dataset_size=64)
    cfg = TrainerConfig(out_dir=str(Path(out_dir, "moco")), max_steps=3, batch_size=4, learning_rate=1e-3, progress_bar=False, device="cpu")
    Trainer(learner, ViewsDataset(list(range(64)), adapter), adapter.collate, cfg).train()
    queue = next(source for source in learner.sources if source.name == "queue").queue
    keys, meta = queue.contents()
    return {"queue_ids": meta["instance_id"].tolist(), "queue_key_sum": float(keys.double().sum())}


def shut_down() -> None:
    """Leave the process group together: a rank whose interpreter tears gloo down while its peer is still talking can
    abort with "terminate called without an active exception" (seen once in CI with the two cores busy)."""
    if torch.distributed.is_initialized():
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
    shut_down()
