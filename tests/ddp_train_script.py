"""Worker for test_ddp.py: trains a tiny text model under DDP (gloo, CPU) with mined hard
negatives (the corpus embedded in shards, one per rank, then gathered) and writes a fingerprint
of its final weights and mined candidates per rank. Run with torch.distributed.run."""
import json
import sys
from pathlib import Path

import torch

from multicl.data.views_dataset import ViewsDataset
from multicl.modalities.text import TextAdapter, TextSample
from multicl.negatives.miner import HardNegativeMiner, MinerConfig, corpus_from_dataset
from multicl.objectives import build_objective
from multicl.train.config import TrainerConfig
from multicl.train.learner import ContrastiveLearner
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
    Path(out_dir, f"rank{acc.process_index}.json").write_text(
        json.dumps({"fingerprint": fingerprint, "mined": miner._candidates.tolist(), "refreshes": miner.refreshes, "world": acc.num_processes, "steps": summary["steps"],
                    "distributed_type": str(acc.distributed_type)})
    )


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
