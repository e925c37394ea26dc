"""Worker for test_ddp_scale.py (2 gloo processes, CPU; run with torch.distributed.run).

    ddp_scale_script.py checks MODEL OUT    GlobalBatchNorm 2xB == 1x2B, torch SyncBatchNorm on CPU,
                                            sync_batchnorm refused, GradCache under DDP == plain DDP
    ddp_scale_script.py resume MODEL OUT    resume OUT/run (written by 1 process) on 2, record ids seen
"""
import json
import sys
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from multicl.data.text_sample import TextSample
from multicl.modalities.text import TextAdapter
from multicl.modalities.vector import VectorAdapter
from multicl.modalities.views_dataset import ViewsDataset
from multicl.negatives.sources import ExplicitHardNegatives, GatheredNegatives
from multicl.objectives import build_objective
from multicl.train.config import TrainerConfig
from multicl.train.learner import ContrastiveLearner
from multicl.train.sync_bn import convert_global_batchnorm
from multicl.train.trainer import Trainer


def _grads(learner):
    return {n: p.grad.detach().clone() for n, p in learner.named_parameters() if p.grad is not None}


def global_bn_equivalence(rank: int, world: int) -> dict:
    """Per rank B anchors with gathered negatives and GlobalBatchNorm == one process with 2B and
    plain BatchNorm (loss and every gradient); per-rank BatchNorm is not."""
    b = 8
    x = np.random.default_rng(0).normal(size=(4 * b, 6)).astype(np.float32)
    adapter = VectorAdapter(x, corruption=0.3, embed_dim=8, hidden_dims=(16,))
    dataset = ViewsDataset(list(range(len(x))), adapter, seed=0)

    def learner(gathered: bool):
        torch.manual_seed(0)
        sources = [ExplicitHardNegatives(), GatheredNegatives()] if gathered else None
        return ContrastiveLearner(adapter.build_encoder(), build_objective("info_nce", temperature=0.1), sources=sources).train()

    whole = learner(gathered=False)  # the reference, computed locally (plain BatchNorm, every row)
    loss = whole(adapter.collate([dataset[i] for i in range(world * b)]))
    loss.backward()
    reference = (float(loss), _grads(whole))
    mine = adapter.collate([dataset[i] for i in range(rank * b, (rank + 1) * b)])
    out = {}
    for name, convert in (("global_bn", True), ("per_rank_bn", False)):
        model = learner(gathered=True)
        if convert:
            convert_global_batchnorm(model)
        loss = model(mine)
        loss.backward()
        total = torch.tensor([float(loss)])
        dist.all_reduce(total)
        grads = _grads(model)
        for g in grads.values():
            dist.all_reduce(g)
            g.div_(world)
        out[name] = {"loss_diff": abs(float(total) / world - reference[0]),
                     "grad_diff": max(float((grads[k] - reference[1][k]).abs().max()) for k in reference[1])}
    return out


def torch_syncbn_on_cpu() -> str:
    bn = nn.SyncBatchNorm(4).train()
    try:
        bn(torch.randn(6, 4))
        return "ran"
    except Exception as error:  # noqa: BLE001 - we record what torch says
        return f"{type(error).__name__}: {error}"


def text_run(model_path: str, out_dir: Path, **overrides) -> tuple[Trainer, ContrastiveLearner]:
    adapter = TextAdapter.from_pretrained(model_path, max_length=16, dropout=0.0)
    samples = [TextSample(f"sentence {i} about topic {i % 5}") for i in range(48)]
    torch.manual_seed(0)
    learner = ContrastiveLearner(adapter.build_encoder(), build_objective("info_nce", temperature=0.1),
                                 sources=[ExplicitHardNegatives(), GatheredNegatives()])
    cfg = TrainerConfig(out_dir=str(out_dir), batch_size=6, learning_rate=1e-3, progress_bar=False, device="cpu",
                        save_every=0, tensorboard=False, **{"max_steps": 3, **overrides})
    seen: list[int] = []

    def collate(items):
        batch = adapter.collate(items)
        seen.extend(int(i) for i in batch.anchors.meta["instance_id"])
        return batch

    trainer = Trainer(learner, ViewsDataset(samples, adapter), collate, cfg)
    trainer.seen = seen
    return trainer, learner


def checks(model_path: str, out: Path) -> dict:
    rank, world = dist.get_rank(), dist.get_world_size()
    record = {"rank": rank, "world": world, "bn": global_bn_equivalence(rank, world), "torch_syncbn_cpu": torch_syncbn_on_cpu()}
    trainer, _ = text_run(model_path, out / "syncbn", sync_batchnorm=True)
    try:
        trainer.train()
        record["sync_batchnorm_refused"] = ""
    except ValueError as error:
        record["sync_batchnorm_refused"] = str(error)
    weights = {}
    for name, chunk in (("plain", None), ("cached", 4)):
        trainer, learner = text_run(model_path, out / name, grad_cache_chunk=chunk, grad_accum_steps=2)
        trainer.train()
        weights[name] = {k: v.detach().clone() for k, v in learner.state_dict().items()}
    record["grad_cache_vs_plain"] = max(float((weights["plain"][k].float() - weights["cached"][k].float()).abs().max())
                                        for k in weights["plain"])
    record["cached_fingerprint"] = sum(float(v.double().sum()) for v in weights["cached"].values())
    return record


def resume(model_path: str, out: Path) -> dict:
    trainer, _ = text_run(model_path, out / "run", max_steps=4)
    summary = trainer.train()
    return {"rank": dist.get_rank(), "seen": trainer.seen, "steps": summary["steps"], "resumed_from": summary["resumed_from_step"]}


if __name__ == "__main__":
    mode, model, out_dir = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    if not dist.is_initialized():
        dist.init_process_group("gloo")
    result = {"checks": checks, "resume": resume}[mode](model, out_dir)
    (out_dir / f"{mode}-rank{dist.get_rank()}.json").write_text(json.dumps(result))
    dist.barrier()  # leave together (see ddp_train_script.shut_down)
    dist.destroy_process_group()
