"""Top-10 neighbours of every vector: exact matmul vs hnswlib vs faiss flat vs sentence-transformers.

Real embeddings only (random high-dimensional points have no neighbourhood structure and make
any ANN index look bad): 10k Leipzig sentences through all-MiniLM-L6-v2 (384-d), and KDD Cup 99
connection records (the 10% file, 494,021 rows; and a 100k random subset) through a tabular MLP
encoder trained briefly with SCARF InfoNCE on NSL-KDD (64-d). Every method runs in this one
process, one after the other; peak memory is the rise of the process's resident-set peak
(``VmHWM``, reset before each method). Recall@10 is tie-aware (KDD99 repeats records): a hit is
any returned vector at least as similar as the exact 10th neighbour.

Also measured: the exact-vs-hnswlib crossover (sets ``MinerConfig.exact_max_size``), an hnswlib
refresh by rebuilding vs updating moved vectors in place, and mining end to end (embed + search
+ filter) against sentence-transformers' ``mine_hard_negatives``.

    .venv/bin/python -m pip install -e ".[bench]"   # faiss-cpu
    .venv/bin/python benchmarks/mining.py --data-dir ../shared/data
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _measure import fixed_mmap_threshold, measure  # noqa: E402

from multicl.negatives.ann_index import HnswIndex, exact_topk  # noqa: E402
from multicl.negatives.dedup import expand_groups, unique_vectors  # noqa: E402

K = 10


# -- embeddings ------------------------------------------------------------------------------------
def text_embeddings(data_dir: Path, cache: Path) -> tuple[np.ndarray, list[str]]:
    from multicl.api import EmbeddingModel
    from multicl.data.text_files import read_sentences

    sentences = read_sentences(data_dir / "text" / "unlabeled" / "eng_wikipedia_2016_10K-sentences.txt")
    path = cache / "leipzig10k_minilm.npy"
    if not path.exists():
        z = EmbeddingModel.load("all-MiniLM-L6-v2").encode(sentences, batch_size=64, normalize=True)
        np.save(path, z)
    return np.load(path), sentences


def kdd_embeddings(data_dir: Path, cache: Path, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """KDD99 10% records through an MLP trained for ``steps`` and for ``steps // 2`` (a refresh)."""
    from _nsl_kdd_setup import load, train_method

    from multicl.data.nsl_kdd import ConnectionFeaturizer, read_connection_records
    from multicl.modalities.vector import encode_rows

    out = []
    for n_steps in (steps, steps // 2):
        path = cache / f"kdd99_mlp{n_steps}.npy"
        if not path.exists():
            folder = data_dir / "security"
            train = read_connection_records(folder / "nsl_kdd" / "KDDTrain+_20Percent.txt")
            featurizer = ConnectionFeaturizer().fit(train)
            kdd99 = featurizer.transform(read_connection_records(folder / "kddcup99" / "kddcup.data_10_percent.gz"))
            encoder, _, _ = train_method("info_nce", load(data_dir), cache / f"kdd_train{n_steps}", n_steps, 256, seed=0)
            z = encode_rows(encoder, kdd99)
            np.save(path, z / np.linalg.norm(z, axis=1, keepdims=True))
        out.append(np.load(path))
    return out[0], out[1]


# -- methods ----------------------------------------------------------------------------------------
def run_exact(z: np.ndarray, dtype: torch.dtype):
    t = torch.from_numpy(z).to(dtype)
    rows, _ = exact_topk(t, t, K)
    return rows.numpy()


def run_faiss(z: np.ndarray):
    import faiss

    index = faiss.IndexFlatIP(z.shape[1])
    index.add(z)
    _, rows = index.search(z, K)
    return rows


def build_hnsw(z: np.ndarray, ef_construction: int, M: int = 16) -> HnswIndex:
    index = HnswIndex(z.shape[1], space="ip", M=M, ef_construction=ef_construction, initial_capacity=len(z))
    index.add(z, np.arange(len(z)))
    return index


def query_hnsw(index: HnswIndex, z: np.ndarray, ef: int):
    index.ef = ef
    ids, _ = index.search(z, K)
    return ids


def run_unique(z: np.ndarray, method: str, ef_construction: int, ef: int):
    """Search the distinct rows only, then expand each result to its copies (see multicl.negatives.dedup)."""
    t = torch.from_numpy(z)
    unique, inverse = unique_vectors(t)
    if method == "exact":
        rows, sims = exact_topk(unique, unique, K)
    else:
        index = build_hnsw(unique.numpy(), ef_construction)
        index.ef = ef
        ids, s = index.search(unique.numpy(), K)
        rows, sims = torch.from_numpy(ids), torch.from_numpy(s)
    rows, _ = expand_groups(rows, sims, inverse, K)
    return rows[inverse].numpy(), len(unique)


def recall_at_k(z: np.ndarray, found: np.ndarray, kth_exact: np.ndarray) -> float:
    """Share of returned neighbours at least as similar as the exact K-th (ties count)."""
    sims = np.einsum("nd,nkd->nk", z, z[found.clip(min=0)])
    hits = (sims >= kth_exact[:, None] - 1e-5) & (found >= 0)
    return float(hits.sum() / (len(z) * K))


def kth_similarity(z: np.ndarray, exact_rows: np.ndarray) -> np.ndarray:
    return np.einsum("nd,nd->n", z, z[exact_rows[:, -1]])


def search_table(name: str, z: np.ndarray, efs: tuple[int, ...], ef_construction: int, bf16_max: int) -> list[dict]:
    print(f"\n== {name}: N={len(z)}, dim={z.shape[1]}", flush=True)
    rows = []
    exact, t_exact, mem = measure(run_exact, z, torch.float32)
    kth = kth_similarity(z, exact)
    rows.append({"data": name, "N": len(z), "method": "exact matmul top-k (fp32, ours)", "build_s": 0.0, "query_s": t_exact,
                 "total_s": t_exact, "peak_mib": mem, "recall@10": recall_at_k(z, exact, kth)})
    print(rows[-1], flush=True)
    if len(z) <= bf16_max:  # bf16 rounding breaks near-ties: a speed row, not a candidate for mining
        found, t, mem = measure(run_exact, z, torch.bfloat16)
        rows.append({"data": name, "N": len(z), "method": "exact matmul top-k (bf16, ours)", "build_s": 0.0, "query_s": t,
                     "total_s": t, "peak_mib": mem, "recall@10": recall_at_k(z, found, kth)})
        print(rows[-1], flush=True)
    try:
        found, t, mem = measure(run_faiss, z)
        rows.append({"data": name, "N": len(z), "method": "faiss IndexFlatIP (exact)", "build_s": 0.0, "query_s": t,
                     "total_s": t, "peak_mib": mem, "recall@10": recall_at_k(z, found, kth)})
        print(rows[-1], flush=True)
    except ImportError:
        print("faiss-cpu is not installed: pip install -e '.[bench]'", flush=True)
    index, t_build, mem_build = measure(build_hnsw, z, ef_construction)
    for ef in efs:
        found, t_query, mem_query = measure(query_hnsw, index, z, ef)
        rows.append({"data": name, "N": len(z), "method": f"hnswlib M=16 efC={ef_construction} ef={ef} (ours)",
                     "build_s": t_build, "query_s": t_query, "total_s": t_build + t_query,
                     "peak_mib": max(mem_build, mem_query), "recall@10": recall_at_k(z, found, kth)})
        print(rows[-1], flush=True)
    del index
    for method, label in (("exact", "exact matmul over distinct rows (fp32, ours)"), ("hnsw", "hnswlib over distinct rows ef=64 (ours)")):
        (found, n_unique), t, mem = measure(run_unique, z, method, ef_construction, 64)
        rows.append({"data": name, "N": len(z), "method": f"{label}, {n_unique} distinct", "build_s": 0.0, "query_s": t,
                     "total_s": t, "peak_mib": mem, "recall@10": recall_at_k(z, found, kth)})
        print(rows[-1], flush=True)
    for row in rows:
        row["speedup_vs_exact"] = t_exact / row["total_s"]
    return rows


def st_search_only(sentences: list[str], cache: Path) -> dict:
    """sentence-transformers' mine_hard_negatives with its embeddings cached: search + selection."""
    from datasets import Dataset
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.util import mine_hard_negatives

    from multicl.encoders.text import resolve_text_model

    model = SentenceTransformer(resolve_text_model("all-MiniLM-L6-v2"), device="cpu")
    data = Dataset.from_dict({"anchor": sentences, "positive": sentences})
    kwargs = dict(range_max=K + 1, num_negatives=K, sampling_strategy="top", output_format="n-tuple", batch_size=64,
                  cache_folder=str(cache / "st_cache"), verbose=False)
    start = time.perf_counter()
    mine_hard_negatives(data, model, **kwargs)  # cold: embeds queries and corpus, fills the cache
    cold = time.perf_counter() - start
    _, warm, mem = measure(mine_hard_negatives, data, model, **kwargs)
    return {"cold_s": cold, "warm_s": warm, "warm_peak_mib": mem}


def ours_end_to_end(sentences: list[str]) -> dict:
    """Our miner's refresh on 10k sentences with the same model: embed + exact search + filter."""
    from multicl.encoders.text import TextEncoder, load_backbone, resolve_text_model
    from multicl.modalities.text import TextAdapter, TextSample
    from multicl.negatives.miner import HardNegativeMiner, MinerConfig, corpus_from_dataset

    path = resolve_text_model("all-MiniLM-L6-v2")
    adapter = TextAdapter.from_pretrained(path, max_length=128)
    encoder = TextEncoder(load_backbone(path)).eval()
    corpus, meta = corpus_from_dataset([TextSample(s) for s in sentences], adapter)
    miner = HardNegativeMiner(corpus, adapter, corpus_meta=meta, config=MinerConfig(num_negatives=K, top_k=K + 1, rank_window=(0, K),
                                                                                     sampling="top", index="exact", embed_batch_size=64))
    stats, seconds, mem = measure(miner.refresh, encoder)
    return {"total_s": seconds, "embed_s": stats["embed_seconds"], "search_s": stats["search_seconds"],
            "filter_s": stats["filter_seconds"], "peak_mib": mem}


def crossover(z: np.ndarray, sizes: tuple[int, ...], ef_construction: int, ef: int) -> list[dict]:
    rows = []
    rng = np.random.default_rng(1)
    for n in sizes:
        sub = z[rng.choice(len(z), size=n, replace=False)]
        exact, t_exact, _ = measure(run_exact, sub, torch.float32)
        index, t_build, _ = measure(build_hnsw, sub, ef_construction)
        found, t_query, _ = measure(query_hnsw, index, sub, ef)
        rows.append({"N": n, "exact_s": t_exact, "hnsw_build_s": t_build, "hnsw_query_s": t_query,
                     "hnsw_recall@10": recall_at_k(sub, found, kth_similarity(sub, exact))})
        print(rows[-1], flush=True)
    return rows


def refresh_in_place(before: np.ndarray, after: np.ndarray, n: int, ef_construction: int, ef: int) -> dict:
    rng = np.random.default_rng(2)
    rows = rng.choice(len(before), size=n, replace=False)
    a, b = before[rows], after[rows]
    kth = kth_similarity(b, run_exact(b, torch.float32))
    index = build_hnsw(a, ef_construction)
    _, t_update, _ = measure(index.add, b, np.arange(n))
    updated = recall_at_k(b, query_hnsw(index, b, ef), kth)
    rebuilt_index, t_rebuild, _ = measure(build_hnsw, b, ef_construction)
    rebuilt = recall_at_k(b, query_hnsw(rebuilt_index, b, ef), kth)
    moved = float(np.mean(np.einsum("nd,nd->n", a, b)))
    out = {"N": n, "mean_cosine_old_new": moved, "update_in_place_s": t_update, "update_recall@10": updated,
           "rebuild_s": t_rebuild, "rebuild_recall@10": rebuilt}
    print(out, flush=True)
    return out


def end_to_end_table(e2e: dict) -> str:
    return markdown([{"method": "multicl HardNegativeMiner.refresh", **e2e["multicl_miner_refresh"]},
                     {"method": "sentence-transformers mine_hard_negatives (cold / cached embeddings)",
                      "total_s": e2e["st_mine_hard_negatives"]["cold_s"], "search_s": e2e["st_mine_hard_negatives"]["warm_s"],
                      "peak_mib": e2e["st_mine_hard_negatives"]["warm_peak_mib"]}],
                    ["method", "total_s", "embed_s", "search_s", "filter_s", "peak_mib"])


def markdown(rows: list[dict], columns: list[str]) -> str:
    def cell(v):
        return f"{v:.3f}" if isinstance(v, float) and abs(v) < 10 else (f"{v:.1f}" if isinstance(v, float) else str(v))
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(r.get(c, "")) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def main() -> None:
    fixed_mmap_threshold()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/mining"))
    parser.add_argument("--cache", type=Path, default=Path("runs/mining_cache"))
    parser.add_argument("--kdd-steps", type=int, default=300)
    parser.add_argument("--efs", default="32,64,128")
    parser.add_argument("--ef-construction", type=int, default=100)
    parser.add_argument("--bf16-max", type=int, default=100_000, help="largest N for the bf16 exact row")
    parser.add_argument("--only-end-to-end", action="store_true", help="run only the 10k-sentence end-to-end comparison")
    parser.add_argument("--skip-full", action="store_true", help="leave out the 494k run (about 10 minutes)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    args.cache.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(torch.get_num_threads())
    efs = tuple(int(e) for e in args.efs.split(","))
    report: dict = {"threads": torch.get_num_threads()}

    text_z, sentences = text_embeddings(args.data_dir, args.cache)
    if args.only_end_to_end:
        e2e = {"multicl_miner_refresh": ours_end_to_end(sentences), "st_mine_hard_negatives": st_search_only(sentences, args.cache)}
        (args.out / "end_to_end.json").write_text(json.dumps(e2e, indent=2))
        print(end_to_end_table(e2e))
        return
    kdd_z, kdd_z_earlier = kdd_embeddings(args.data_dir, args.cache, args.kdd_steps)
    subset = np.random.default_rng(0).choice(len(kdd_z), size=100_000, replace=False)

    table = search_table("Leipzig 10k sentences, MiniLM 384-d", text_z, efs, args.ef_construction, args.bf16_max)
    table += search_table("KDD99 100k records, MLP 64-d", kdd_z[subset], efs, args.ef_construction, args.bf16_max)
    if not args.skip_full:
        table += search_table("KDD99 494k records, MLP 64-d", kdd_z, efs, args.ef_construction, args.bf16_max)
    report["search"] = table
    print("\n== crossover (KDD99 64-d subsets; Leipzig 384-d is the 10k row above)", flush=True)
    report["crossover"] = crossover(kdd_z, (10_000, 25_000, 50_000), args.ef_construction, 64)
    print("\n== hnswlib refresh: update moved vectors in place vs rebuild", flush=True)
    report["refresh"] = refresh_in_place(kdd_z_earlier, kdd_z, 100_000, args.ef_construction, 64)
    print("\n== end to end on 10k sentences (embed + search + select)", flush=True)
    report["end_to_end"] = {"multicl_miner_refresh": ours_end_to_end(sentences), "st_mine_hard_negatives": st_search_only(sentences, args.cache)}
    print(report["end_to_end"], flush=True)

    (args.out / "mining.json").write_text(json.dumps(report, indent=2))
    text = markdown(table, ["data", "method", "build_s", "query_s", "total_s", "peak_mib", "recall@10", "speedup_vs_exact"])
    text += "\n\n" + markdown(report["crossover"], ["N", "exact_s", "hnsw_build_s", "hnsw_query_s", "hnsw_recall@10"])
    text += "\n\n" + markdown([report["refresh"]], list(report["refresh"]))
    text += "\n\n" + end_to_end_table(report["end_to_end"])
    (args.out / "mining.md").write_text(text + "\n")
    print("\n" + text)


if __name__ == "__main__":
    main()
