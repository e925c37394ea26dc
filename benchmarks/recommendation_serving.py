"""Serving latency of a saved recommender: recommend(user_history, k) per query, items/s to index.

    python benchmarks/recommendation_serving.py --model runs/rec/s0/model --queries 200
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from multicl.models.recommender import Recommender


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--model", required=True)
    p.add_argument("--queries", type=int, default=200)
    p.add_argument("--history", type=int, default=50)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--backend", default=None, help="exact | hnsw (default: the saved index)")
    args = p.parse_args()
    torch.set_num_threads(1)
    t = time.perf_counter()
    rec = Recommender.load(args.model, backend=args.backend)
    load_s = time.perf_counter() - t
    rng = np.random.default_rng(0)
    histories = [list(rng.choice(rec.item_ids, args.history, replace=False)) for _ in range(args.queries)]
    rec.recommend(histories[0], args.k)  # warm-up
    times = []
    for h in histories:
        t = time.perf_counter()
        rec.recommend(h, args.k)
        times.append(time.perf_counter() - t)
    # items/s to index: embed the catalogue with the item tower + build the index
    from multicl.models.index import EmbeddingIndex
    from multicl.modalities.recommendation import item_inputs

    t = time.perf_counter()
    with torch.no_grad():
        z = torch.nn.functional.normalize(rec.item_tower(item_inputs(np.arange(len(rec.item_ids)))), dim=-1).numpy()
    index = EmbeddingIndex(z.shape[1], backend="auto")
    index.add(z, ids=rec.item_ids)
    index_s = time.perf_counter() - t
    ms = np.array(times) * 1000
    print(json.dumps({"items": len(rec.item_ids), "index_kind": rec.index.kind, "load_seconds": round(load_s, 3),
                      "latency_ms_p50": round(float(np.percentile(ms, 50)), 3), "latency_ms_p95": round(float(np.percentile(ms, 95)), 3),
                      "items_per_second_to_index": round(len(rec.item_ids) / index_s), "history_len": args.history, "k": args.k,
                      "threads": 1}, indent=1))


if __name__ == "__main__":
    main()
