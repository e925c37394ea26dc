"""Two-tower recommendation: user history vs item (id + frozen MiniLM text), logQ-corrected symmetric InfoNCE.

    python -m multicl.recipes.recommendation --out-dir runs/rec/seed0 --seed 0            # MovieLens-100K from the recbole wheel
    python -m multicl.recipes.recommendation --inter-file log.csv --item-file items.csv --out-dir runs/rec/mine

Protocol (RecBole-like, printed with every number): per-user random 8:1:1 split (RecBole RS,
order RO, seed ``--seed``), full ranking over all items, items seen in train (+ valid at test)
masked; Recall / NDCG / MRR / Hit @10 averaged over users with ground truth. ``--eval-split
valid`` reports the validation split only (choose defaults there); ``test`` reports both.
Baselines in the same run and split: popularity, ItemKNN (cosine, k=100), BPR-MF.
Cold start (``--cold-start-fraction``, default 0.1): a second model is trained with that share
of items removed from training entirely; each user ranks the held-out items only (through their
text; their id embedding is 0), ground truth = the user's interactions with them; reported with
random and an untrained text-kNN (MiniLM history mean) for reference.
Outputs: ``out_dir/{config,metrics}.json``, ``summary.md``, ``model/`` (towers + item index).
"""
from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from multicl.data.interactions import (InteractionLog, histories, load_movielens_100k, movielens_100k_files, read_interactions,
                                       UserFeatures, movielens_100k_user_file, read_user_features, split_leave_one_out, split_per_user,
                                       user_item_matrix)
from multicl.errors import UserInputError
from multicl.eval.recommendation import LOO_SPLIT, PROTOCOL, topk_metrics
from multicl.eval.recommendation_baselines import fit_bpr, fit_itemknn, fit_popularity
from multicl.eval.recommendation_lightgcn import fit_lightgcn
from multicl.recipes._cli import OVERWRITE_HELP, config_from_args, console_main, start_run
from multicl.recipes._recommendation_towers import item_matrix, score_fn, text_embeddings, train_towers, user_matrix
from multicl.utils.io import atomic_write_json

logger = logging.getLogger("multicl.recipes.recommendation")
BASELINES = ("popularity", "itemknn", "bpr", "lightgcn")


@dataclass(frozen=True)
class Config:
    inter_file: str = field(default="", metadata={"help": "interaction log (user, item[, timestamp]); empty: MovieLens-100K from the recbole wheel"})
    item_file: str = field(default="", metadata={"help": "item table (item id + text fields)"})
    user_file: str = field(default="", metadata={"help": "user table (user id + categorical / numeric features) for the user tower; "
                                                         "'movielens': ML-100K's age, gender, occupation, zip region; empty: none"})
    text_fields: tuple[str, ...] = field(default=(), metadata={"help": "item-table columns joined as the item text (empty: all but the id; ML-100K: title, genres)"})
    out_dir: str = field(default="runs/recommendation", metadata={"help": "output folder"})
    overwrite: bool = field(default=False, metadata={"help": OVERWRITE_HELP})
    device: str = field(default="cpu", metadata={"help": "cpu (the towers are small; training runs on CPU)"})
    seed: int = field(default=0, metadata={"help": "split, init and batches"})
    split: str = field(default="ratio", metadata={"help": "ratio: per-user random 8:1:1 (RecBole RS/RO); loo: leave-one-out by time, "
                                                           "last item test, the one before valid (RecBole LS/TO, the sequential view)",
                                                   "choices": ("ratio", "loo")})
    eval_split: str = field(default="test", metadata={"help": "valid: report validation only; test: validation and test", "choices": ("valid", "test")})
    # defaults chosen on the ML-100K validation split, seed 0 (benchmarks/results/recommendation/README.md)
    max_steps: int = field(default=600, metadata={"help": "training steps (valid R@10 seed 0: 100 -> 0.179, 600 -> 0.223)"})
    batch_size: int = field(default=512, metadata={"help": "interactions per step (in-batch negatives)"})
    learning_rate: float = field(default=3e-3, metadata={"help": "AdamW learning rate"})
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay"})
    temperature: float = field(default=0.05, metadata={"help": "InfoNCE temperature (fixed)"})
    embed_dim: int = field(default=64, metadata={"help": "tower width"})
    max_history: int = field(default=100, metadata={"help": "history items per user view"})
    pooling: str = field(default="mean", metadata={"help": "user tower pooling", "choices": ("mean", "attention")})
    share_item_embeddings: bool = field(default=True, metadata={"help": "the user tower pools the item tower's own embeddings"})
    id_dropout: float = field(default=0.1, metadata={"help": "training-time share of item-id embeddings zeroed (the text path learns to stand alone)"})
    use_text: bool = field(default=True, metadata={"help": "item text side (frozen MiniLM of title + genres)"})
    logq: bool = field(default=True, metadata={"help": "subtract log q(item) (and log q(user) in the reverse direction) from the logits"})
    remove_accidental_hits: bool = field(default=True, metadata={"help": "the same item elsewhere in the batch is not a negative"})
    exclude_seen: bool = field(default=True, metadata={"help": "the user's own training items are never its negatives"})
    mined_negatives: int = field(default=0, metadata={"help": "hard negatives per user mined from the refreshed item index (0: off)"})
    mined_rank_window: tuple[int, ...] = field(default=(0, 50), metadata={"help": "sample mined negatives among the surviving ranks lo <= r < hi"})
    mined_refresh_every: int = field(default=100, metadata={"help": "steps between re-embedding the items and re-mining"})
    symmetric: bool = field(default=True, metadata={"help": "user->item and item->user InfoNCE (False: user->item only)"})
    text_model: str = field(default="all-MiniLM-L6-v2", metadata={"help": "the packaged MiniLM or a local sentence-transformers folder"})
    cache_dir: str = field(default="~/.cache/multicl", metadata={"help": "where item text embeddings are cached"})
    baselines: tuple[str, ...] = field(default=BASELINES, metadata={"help": f"baselines in the same run, of {BASELINES}"})
    lightgcn_learning_rate: float = field(default=5e-3, metadata={"help": "LightGCN baseline's Adam lr (RecBole: 1e-3; 5e-3 reaches the same "
                                                                            "validation NDCG in fewer epochs on CPU)"})
    cold_start_fraction: float = field(default=0.1, metadata={"help": "share of items held out for the cold-start model (0: skip it)"})
    min_user_interactions: int = field(default=3, metadata={"help": "users with fewer interactions are dropped (one per split)"})


def load(cfg: Config) -> InteractionLog:
    if cfg.inter_file:
        return read_interactions(cfg.inter_file, cfg.item_file or None, cfg.text_fields or None, min_user_interactions=cfg.min_user_interactions)
    if movielens_100k_files() is None:
        raise UserInputError("no --inter-file and MovieLens-100K is not installed (`pip install --no-deps recbole==1.2.1`)")
    return load_movielens_100k()


def load_user_features(cfg: Config, log: InteractionLog) -> UserFeatures | None:
    if not cfg.user_file:
        return None
    path = movielens_100k_user_file() if cfg.user_file == "movielens" else cfg.user_file
    if path is None or not Path(path).exists():
        raise UserInputError(f"--user-file {cfg.user_file}: not found (movielens: needs `pip install --no-deps recbole==1.2.1`)")
    features = read_user_features(path, log.user_ids)
    logger.info("user features %s (cardinalities %s); %d users without a row", features.names, features.cardinalities,
                int((features.codes == 0).all(1).sum()))
    return features


def _prefixed(prefix: str, m: dict[str, float]) -> dict[str, float]:
    return {f"{prefix}_{k}": float(v) for k, v in m.items() if k != "users"}


def run(cfg: Config, log: InteractionLog, out: Path) -> dict[str, float]:
    split = split_per_user(log, cfg.seed) if cfg.split == "ratio" else split_leave_one_out(log)
    tr, va, te = (user_item_matrix(log, r) for r in (split.train, split.valid, split.test))
    h_train = histories(log, split.train)
    h_trainvalid = histories(log, np.concatenate([split.train, split.valid]))
    text = text_embeddings(log.item_text, cfg.text_model, cfg.cache_dir) if cfg.use_text else None
    metrics: dict[str, float] = {"users": float(log.num_users), "items": float(log.num_items), "interactions": float(len(log)),
                                 "train_interactions": float(len(split.train))}
    features = load_user_features(cfg, log)
    user_tower, item_tower, stats = train_towers(log.users[split.train], log.items[split.train], h_train, log.num_items, cfg, cfg.seed,
                                                 out / "train", text, None, features)
    metrics.update(stats)
    items_z = item_matrix(item_tower, log.num_items)
    metrics.update(_prefixed("valid", topk_metrics(score_fn(user_matrix(user_tower, h_train, cfg.max_history, user_features=features), items_z),
                                                   va, tr)))
    if cfg.eval_split == "test":
        metrics.update(_prefixed("test", topk_metrics(score_fn(user_matrix(user_tower, h_trainvalid, cfg.max_history, user_features=features),
                                                               items_z), te, tr + va)))
    for name in cfg.baselines:
        t = time.perf_counter()
        if name == "popularity":
            fn = fit_popularity(tr)
        elif name == "itemknn":
            fn = fit_itemknn(tr, k=100)
        elif name == "bpr":
            fn = fit_bpr(tr, valid_fn=lambda s: topk_metrics(s, va, tr)["ndcg@10"], seed=cfg.seed)
        elif name == "lightgcn":
            fn = fit_lightgcn(tr, valid_fn=lambda s: topk_metrics(s, va, tr)["ndcg@10"], seed=cfg.seed, learning_rate=cfg.lightgcn_learning_rate)
        else:
            raise UserInputError(f"--baselines {name!r}: expected some of {list(BASELINES)}")
        part = ("valid", va, tr) if cfg.eval_split == "valid" else ("test", te, tr + va)
        # baselines are fitted on train only (BPR's early stopping reads valid); scored on the reported split
        metrics.update(_prefixed(f"baseline_{name}" + ("_valid" if part[0] == "valid" else ""), topk_metrics(fn, part[1], part[2])))
        metrics[f"baseline_{name}_seconds"] = time.perf_counter() - t
    _save_model(out, user_tower, item_tower, items_z, log, cfg, features)
    if cfg.cold_start_fraction > 0:
        metrics.update(cold_start(cfg, log, split, text, out, features))
    return metrics


def cold_start(cfg: Config, log: InteractionLog, split, text, out: Path, features: UserFeatures | None = None) -> dict[str, float]:
    rng = np.random.default_rng([cfg.seed, 7])
    active = np.unique(log.items)
    cold = np.sort(rng.choice(active, max(1, int(round(cfg.cold_start_fraction * len(active)))), replace=False))
    is_cold = np.isin(log.items, cold)
    train_rows = split.train[~is_cold[split.train]]
    known = torch.ones(log.num_items, dtype=torch.bool)
    known[torch.as_tensor(cold)] = False
    h_train = histories(log, train_rows)
    user_tower, item_tower, stats = train_towers(log.users[train_rows], log.items[train_rows], h_train, log.num_items, cfg, cfg.seed,
                                                 out / "train_cold", text, known, features)
    truth = user_item_matrix(log, np.flatnonzero(is_cold))
    users = np.array([u for u in range(log.num_users) if len(h_train[u]) and truth[u].nnz], dtype=np.int64)
    m = {"cold_start_items": float(len(cold)), "cold_start_interactions": float(is_cold.sum()), "cold_start_train_seconds": stats["train_seconds"]}
    model = topk_metrics(score_fn(user_matrix(user_tower, h_train, cfg.max_history, user_features=features),
                                  item_matrix(item_tower, log.num_items)), truth,
                         users=users, candidates=cold)
    m.update({f"cold_start_{k}": float(v) for k, v in model.items() if k != "users"})
    g = np.random.default_rng([cfg.seed, 8])
    rand = topk_metrics(lambda rows: g.random((len(rows), log.num_items)), truth, users=users, candidates=cold)
    m.update({f"cold_start_random_{k}": float(v) for k, v in rand.items() if k != "users"})
    if text is not None:
        t = F.normalize(text.float(), dim=-1)
        prof = F.normalize(torch.stack([t[torch.as_tensor(h)].mean(0) if len(h) else torch.zeros(t.shape[1]) for h in h_train]), dim=-1)
        knn = topk_metrics(lambda rows: (prof[torch.as_tensor(rows)] @ t.T).numpy(), truth, users=users, candidates=cold)
        m.update({f"cold_start_text_knn_{k}": float(v) for k, v in knn.items() if k != "users"})
    m["cold_start_users"] = float(len(users))
    return m


def _save_model(out: Path, user_tower, item_tower, items_z, log: InteractionLog, cfg: Config, features: UserFeatures | None = None) -> None:
    from multicl.models.recommender import save_recommender

    settings = {k: getattr(cfg, k) for k in ("embed_dim", "pooling", "max_history", "share_item_embeddings")}
    save_recommender(out / "model", user_tower, item_tower, log.item_ids, settings, user_features=features, user_ids=log.user_ids)


def report(m: dict[str, float], cfg: Config) -> str:
    part = "valid" if cfg.eval_split == "valid" else "test"
    protocol = PROTOCOL if cfg.split == "ratio" else PROTOCOL.replace("per-user random 8:1:1 split (RecBole RS, order RO)", LOO_SPLIT)
    lines = [f"protocol: {protocol}; split {cfg.split}, seed {cfg.seed}; {int(m['users'])} users, {int(m['items'])} items, {int(m['interactions'])} interactions",
             f"two towers: {cfg.max_steps} steps x batch {cfg.batch_size}, temperature {cfg.temperature}, lr {cfg.learning_rate}, pooling {cfg.pooling}, "
             f"text {'on' if cfg.use_text else 'off'}, logQ {'on' if cfg.logq else 'off'}, accidental hits {'removed' if cfg.remove_accidental_hits else 'kept'}, "
             f"own items {'excluded' if cfg.exclude_seen else 'kept'}, user features {cfg.user_file or 'none'}", "", "| row | R@10 | NDCG@10 | MRR@10 | Hit@10 |", "|---|---|---|---|---|"]
    rows = [("two towers (valid)", "valid")] + ([("two towers (test)", "test")] if part == "test" else [])
    rows += [(f"baseline {b} ({part})", f"baseline_{b}" + ("_valid" if part == "valid" else "")) for b in cfg.baselines]
    for name, key in rows:
        lines.append(f"| {name} | " + " | ".join(f"{m.get(f'{key}_{k}@10', float('nan')):.4f}" for k in ("recall", "ndcg", "mrr", "hit")) + " |")
    if "cold_start_recall@10" in m:
        lines.append(f"\ncold start ({int(m['cold_start_items'])} held-out items ranked among themselves, {int(m['cold_start_users'])} users): "
                     f"R@10 {m['cold_start_recall@10']:.4f} (random {m['cold_start_random_recall@10']:.4f}, untrained text kNN "
                     f"{m.get('cold_start_text_knn_recall@10', float('nan')):.4f})")
    return "\n".join(lines)


def main(cfg: Config) -> dict[str, float]:
    start = time.perf_counter()
    out, _ = start_run(cfg)
    log = load(cfg)
    metrics = run(cfg, log, out)
    metrics["wall_seconds"] = time.perf_counter() - start
    atomic_write_json(out / "metrics.json", metrics)
    table = report(metrics, cfg)
    (out / "summary.md").write_text(table + f"\n\nwall {metrics['wall_seconds']:.0f}s\n")
    print(table + f"\nwall {metrics['wall_seconds']:.0f}s")
    return metrics


def cli(argv: list[str] | None = None) -> dict[str, float]:
    return main(config_from_args(Config, argv, __doc__.split("\n\n")[0]))


if __name__ == "__main__":
    raise SystemExit(console_main(cli))
