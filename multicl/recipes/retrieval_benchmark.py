"""Retrieval benchmark of a saved model: BEIR-format folders (text), or label retrieval (any table / text model).

``python -m multicl.recipes.retrieval_benchmark --model PATH_OR_ID --data-dir DIR [--split test] --out-dir OUT``

BEIR mode (``DIR/corpus.jsonl``, ``DIR/queries.jsonl``, ``DIR/qrels/<split>.tsv``): the model
embeds queries and corpus once; the corpus goes into :class:`~multicl.models.index.EmbeddingIndex`
twice (exact and hnswlib). Reported: nDCG@10, recall@{1,10,100}, MRR@10, MAP@100, exactly and
through the index; the index's own recall@10 against exact search; build time; queries/s. In the
same run, sentence-transformers' ``InformationRetrievalEvaluator`` scores the same model on the same
data (``--no-peer`` skips it): its metrics next to ours (they agree on the exact path) and the
speed ratio.

Label mode (``--mode labels --corpus-file F --query-file F --label-column label``): queries are
the query file's items, relevant are the corpus items with the same label: precision@k, MAP@R,
recall@k (a hit within k). Tables (CSV/parquet) for table models; a ``text`` column for text.

``--build-stsb DIR``: writes a BEIR folder from STS-B dev (pairs scored >= 4: sentence 1 the
query, sentence 2 relevant; the other STS-B dev sentences and ``--distractors`` Leipzig sentences
as distractors) first, then benchmarks it. Writes ``metrics.json`` (``ndcg@10``, ``recall@10``,
``mrr@10``, ``index_recall@10``, ...) and ``config.json`` into ``--out-dir``.
"""
from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from multicl.api import EmbeddingModel
from multicl.eval.retrieval import ranking_metrics
from multicl.recipes._cli import config_from_args
from multicl.utils.io import atomic_write_json


@dataclass(frozen=True)
class Config:
    model: str = field(default="all-MiniLM-L6-v2", metadata={"help": "saved model folder, sentence-transformers folder or id"})
    data_dir: str = field(default="runs/stsb_beir", metadata={"help": "BEIR folder (corpus.jsonl, queries.jsonl, qrels/)"})
    split: str = field(default="test", metadata={"help": "qrels split"})
    out_dir: str = field(default="runs/retrieval_benchmark", metadata={"help": "output folder"})
    mode: str = field(default="beir", metadata={"help": "beir | labels", "choices": ["beir", "labels"]})
    corpus_file: str = field(default="", metadata={"help": "labels mode: corpus table"})
    query_file: str = field(default="", metadata={"help": "labels mode: query table"})
    label_column: str = field(default="label", metadata={"help": "labels mode: label column"})
    build_stsb: str = field(default="", metadata={"help": "shared data dir: build the STS-B + Leipzig BEIR set into --data-dir first"})
    distractors: int = field(default=5000, metadata={"help": "Leipzig sentences added as distractors by --build-stsb"})
    batch_size: int = field(default=64, metadata={"help": "encode batch size"})
    device: str = field(default="auto", metadata={"help": "auto | cpu | cuda"})
    peer: bool = field(default=True, metadata={"help": "also run sentence-transformers' InformationRetrievalEvaluator (text)"})
    ef: int = field(default=64, metadata={"help": "hnswlib query beam"})


# -- data ---------------------------------------------------------------------------------------
def read_beir(folder: Path, split: str) -> tuple[dict[str, str], dict[str, str], dict[str, set[str]]]:
    for name in ("corpus.jsonl", "queries.jsonl", f"qrels/{split}.tsv"):
        if not (folder / name).exists():
            raise FileNotFoundError(f"{folder} is not a BEIR folder: {name} is missing (expected corpus.jsonl, queries.jsonl, qrels/{split}.tsv)")
    corpus = {}
    for line in (folder / "corpus.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            corpus[str(row["_id"])] = (row.get("title", "") + " " + row["text"]).strip()
    queries = {str(r["_id"]): r["text"] for r in map(json.loads, filter(str.strip, (folder / "queries.jsonl").read_text(encoding="utf-8").splitlines()))}
    qrels: dict[str, set[str]] = {}
    for i, line in enumerate((folder / f"qrels/{split}.tsv").read_text().splitlines()):
        parts = line.split("\t")
        if i == 0 and not parts[-1].strip().lstrip("-").isdigit():
            continue  # header
        if len(parts) >= 3 and int(parts[2]) > 0:
            qrels.setdefault(parts[0], set()).add(parts[1])
    qrels = {q: rel for q, rel in qrels.items() if q in queries}
    return corpus, {q: queries[q] for q in qrels}, qrels


def build_stsb_beir(shared: Path, out: Path, distractors: int, min_score: float = 4.0) -> dict[str, int]:
    """STS-B dev pairs scored >= ``min_score`` -> query (sentence 1) / relevant (sentence 2);
    every other STS-B dev sentence and ``distractors`` Leipzig sentences are distractors."""
    from multicl.data.text_files import read_sentences, read_sts

    pairs = read_sts(shared / "text" / "stsb" / "sts-dev.csv")
    queries: dict[str, str] = {}
    relevant: dict[str, set[str]] = {}
    query_text = {p.sentence1 for p in pairs if p.score >= min_score}
    doc_id: dict[str, str] = {}
    for text in sorted({t for p in pairs for t in (p.sentence1, p.sentence2)} - query_text):
        doc_id[text] = f"d{len(doc_id)}"
    for p in pairs:
        if p.score >= min_score and p.sentence2 in doc_id:
            qid = queries.setdefault(p.sentence1, f"q{len(queries)}")
            relevant.setdefault(qid, set()).add(doc_id[p.sentence2])
    leipzig = read_sentences(shared / "text" / "unlabeled" / "eng_wikipedia_2016_10K-sentences.txt")
    for text in leipzig[:distractors]:
        if text not in doc_id and text not in query_text:
            doc_id[text] = f"d{len(doc_id)}"
    (out / "qrels").mkdir(parents=True, exist_ok=True)
    (out / "corpus.jsonl").write_text("".join(json.dumps({"_id": d, "title": "", "text": t}) + "\n" for t, d in doc_id.items()))
    (out / "queries.jsonl").write_text("".join(json.dumps({"_id": q, "text": t}) + "\n" for t, q in queries.items() if q in relevant))
    (out / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t1\n" for q, ds in relevant.items() for d in sorted(ds)))
    return {"queries": len(relevant), "corpus": len(doc_id), "qrels": sum(map(len, relevant.values()))}


# -- metrics ----------------------------------------------------------------------------------------
def map_at_k(ranked: np.ndarray, relevant: Sequence[set[int]], k: int) -> float:
    """Mean average precision at k, normalised by min(k, |relevant|) (as sentence-transformers)."""
    scores = []
    for row, rel in zip(ranked[:, :k].tolist(), relevant):
        hits, total = 0, 0.0
        for rank, c in enumerate(row):
            if c in rel:
                hits += 1
                total += hits / (rank + 1)
        scores.append(total / min(k, len(rel)))
    return float(np.mean(scores))


def beir_metrics(ranked: np.ndarray, relevant: Sequence[set[int]]) -> dict[str, float]:
    m = ranking_metrics(ranked, relevant, (1, 10, 100))
    return {"ndcg@10": m["ndcg@10"], "recall@1": m["recall@1"], "recall@10": m["recall@10"], "recall@100": m["recall@100"],
            "mrr@10": m["mrr@10"], "map@100": map_at_k(ranked, relevant, 100)}


def label_metrics(ranked_labels: np.ndarray, query_labels: np.ndarray, counts: dict[Any, int], ks: Sequence[int]) -> dict[str, float]:
    """precision@k, recall@k (a same-label item within k), MAP@R (R = same-label corpus items)."""
    same = ranked_labels == query_labels[:, None]
    out = {}
    for k in ks:
        out[f"precision@{k}"] = float(same[:, :k].mean())
        out[f"recall@{k}"] = float(same[:, :k].any(1).mean())
    aps = []
    for row, label in zip(same, query_labels):
        r = min(counts.get(label, 0), row.shape[0])
        if r == 0:
            aps.append(0.0)
            continue
        hits = row[:r]
        precision = np.cumsum(hits) / np.arange(1, r + 1)
        aps.append(float((precision * hits).sum() / r))
    out["map@r"] = float(np.mean(aps))
    return out


def search_both(model: EmbeddingModel, corpus_emb: np.ndarray, query_emb: np.ndarray, k: int, ef: int) -> dict[str, Any]:
    """Exact and hnswlib search of the same embeddings through the public index."""
    result: dict[str, Any] = {}
    for backend in ("exact", "hnsw"):
        t = time.perf_counter()
        index = model.index(corpus_emb, backend=backend, ef=ef)
        build = time.perf_counter() - t
        t = time.perf_counter()
        rows, _ = index.search(query_emb, k)
        search = time.perf_counter() - t
        result[backend] = {"rows": rows, "build_seconds": build, "search_seconds": search, "queries_per_second": len(query_emb) / max(search, 1e-9)}
    k10 = min(10, rows.shape[1])
    exact, hnsw = result["exact"]["rows"][:, :k10], result["hnsw"]["rows"][:, :k10]
    result["index_recall@10"] = float(np.mean([len(set(a) & set(b)) / k10 for a, b in zip(exact.tolist(), hnsw.tolist())]))
    return result


# -- runs -------------------------------------------------------------------------------------------
def run_beir(cfg: Config, model: EmbeddingModel, out: Path) -> dict[str, Any]:
    corpus, queries, qrels = read_beir(Path(cfg.data_dir), cfg.split)
    doc_ids, query_ids = list(corpus), list(queries)
    position = {d: i for i, d in enumerate(doc_ids)}
    relevant = [{position[d] for d in qrels[q] if d in position} for q in query_ids]
    print(f"[retrieval_benchmark] {len(query_ids)} queries, {len(doc_ids)} corpus items, model {cfg.model}")
    t = time.perf_counter()
    corpus_emb = model.encode([corpus[d] for d in doc_ids], batch_size=cfg.batch_size)
    query_emb = model.encode([queries[q] for q in query_ids], batch_size=cfg.batch_size)
    encode_s = time.perf_counter() - t
    found = search_both(model, corpus_emb, query_emb, min(100, len(doc_ids)), cfg.ef)
    metrics: dict[str, Any] = {"queries": len(query_ids), "corpus": len(doc_ids), "encode_seconds": encode_s,
                               "encode_items_per_second": (len(doc_ids) + len(query_ids)) / encode_s}
    metrics.update(beir_metrics(found["exact"]["rows"], relevant))
    metrics.update({f"hnsw_{k}": v for k, v in beir_metrics(found["hnsw"]["rows"], relevant).items()})
    metrics["index_recall@10"] = found["index_recall@10"]
    for backend in ("exact", "hnsw"):
        metrics.update({f"{backend}_{k}": v for k, v in found[backend].items() if k != "rows"})
    metrics["ours_total_seconds"] = encode_s + found["exact"]["build_seconds"] + found["exact"]["search_seconds"]
    if cfg.peer and model.modality == "text":
        metrics.update(run_peer(cfg, model, corpus, queries, qrels, out))
    return metrics


def run_peer(cfg: Config, model: EmbeddingModel, corpus, queries, qrels, out: Path) -> dict[str, Any]:
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.evaluation import InformationRetrievalEvaluator

    from multicl.encoders.text import resolve_text_model

    path = resolve_text_model(cfg.model)
    st = SentenceTransformer(path, device=str(model.device))
    st.max_seq_length = model.max_length
    evaluator = InformationRetrievalEvaluator(queries, corpus, qrels, mrr_at_k=[10], ndcg_at_k=[10], accuracy_at_k=[1, 10],
                                              precision_recall_at_k=[1, 10, 100], map_at_k=[100], batch_size=cfg.batch_size,
                                              name="st", write_csv=False)
    t = time.perf_counter()
    scores = evaluator(st, output_path=None)
    seconds = time.perf_counter() - t
    pick = {"ndcg@10": "ndcg@10", "recall@1": "recall@1", "recall@10": "recall@10", "recall@100": "recall@100", "mrr@10": "mrr@10", "map@100": "map@100"}
    out_metrics: dict[str, Any] = {"peer_total_seconds": seconds}
    for ours, theirs in pick.items():
        key = next((k for k in scores if k.endswith(f"cosine_{theirs}")), None)
        if key is not None:
            out_metrics[f"peer_{ours}"] = float(scores[key])
    return out_metrics


def run_labels(cfg: Config, model: EmbeddingModel) -> dict[str, Any]:
    from multicl.data.table_files import read_table

    corpus, queries = read_table(cfg.corpus_file), read_table(cfg.query_file)
    for name, frame in (("corpus", corpus), ("query", queries)):
        if cfg.label_column not in frame.columns:
            raise KeyError(f"the {name} file has no label column {cfg.label_column!r} (columns: {list(frame.columns)[:12]}); pass --label-column")
    c_labels, q_labels = corpus[cfg.label_column].to_numpy(), queries[cfg.label_column].to_numpy()
    if model.modality == "table":
        c_in, q_in = corpus, queries
    elif model.modality == "text":
        if "text" not in corpus.columns:
            raise KeyError("label mode with a text model needs a 'text' column in both files")
        c_in, q_in = corpus["text"].astype(str).tolist(), queries["text"].astype(str).tolist()
    else:
        raise ValueError(f"label mode reads tables; a {model.modality} model needs its own item lists (use the Python API: "
                         f"model.index(items).search(queries, k))")
    t = time.perf_counter()
    c_emb, q_emb = model.encode(c_in, batch_size=cfg.batch_size), model.encode(q_in, batch_size=cfg.batch_size)
    encode_s = time.perf_counter() - t
    counts = dict(zip(*np.unique(c_labels, return_counts=True)))
    k = min(max(100, int(max(counts.values()))), len(c_emb))
    found = search_both(model, c_emb, q_emb, k, cfg.ef)
    metrics: dict[str, Any] = {"queries": len(q_emb), "corpus": len(c_emb), "encode_seconds": encode_s}
    metrics.update(label_metrics(c_labels[found["exact"]["rows"]], q_labels, counts, (1, 10, 100)))
    metrics.update({f"hnsw_{m}": v for m, v in label_metrics(c_labels[found["hnsw"]["rows"]], q_labels, counts, (1, 10, 100)).items()})
    metrics["index_recall@10"] = found["index_recall@10"]
    for backend in ("exact", "hnsw"):
        metrics.update({f"{backend}_{m}": v for m, v in found[backend].items() if m != "rows"})
    return metrics


def main(cfg: Config) -> dict[str, Any]:
    import torch

    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "config.json", asdict(cfg))
    if cfg.build_stsb:
        counts = build_stsb_beir(Path(cfg.build_stsb), Path(cfg.data_dir), cfg.distractors)
        print(f"[retrieval_benchmark] built {cfg.data_dir}: {counts}")
    device = ("cuda" if torch.cuda.is_available() else "cpu") if cfg.device == "auto" else cfg.device
    model = EmbeddingModel.load(cfg.model, device=device)
    metrics = run_beir(cfg, model, out) if cfg.mode == "beir" else run_labels(cfg, model)
    atomic_write_json(out / "metrics.json", metrics)
    print(format_report(metrics))
    return metrics


def format_report(m: dict[str, Any]) -> str:
    keys = [k for k in ("ndcg@10", "recall@1", "recall@10", "recall@100", "mrr@10", "map@100", "precision@1", "precision@10", "map@r") if k in m]
    head = "| metric | exact | hnsw |" + (" sentence-transformers |" if any(f"peer_{k}" in m for k in keys) else "")
    lines = [head, "|---|---|---|" + ("---|" if "sentence" in head else "")]
    for k in keys:
        row = f"| {k} | {100 * m[k]:.2f} | {100 * m.get('hnsw_' + k, math.nan):.2f} |"
        if "sentence" in head:
            row += f" {100 * m.get('peer_' + k, math.nan):.2f} |"
        lines.append(row)
    lines.append(f"index recall@10 vs exact {m['index_recall@10']:.3f}; hnsw build {m['hnsw_build_seconds']:.2f} s, "
                 f"{m['hnsw_queries_per_second']:.0f} queries/s (exact {m['exact_queries_per_second']:.0f}/s)")
    if "peer_total_seconds" in m:
        lines.append(f"time: ours {m['ours_total_seconds']:.1f} s (encode + exact search), sentence-transformers evaluator "
                     f"{m['peer_total_seconds']:.1f} s: {m['peer_total_seconds'] / m['ours_total_seconds']:.2f}x")
    return "\n".join(lines)


def cli(argv: list[str] | None = None) -> dict[str, Any]:
    return main(config_from_args(Config, argv, __doc__.split("\n\n")[0]))


if __name__ == "__main__":
    cli(sys.argv[1:])
