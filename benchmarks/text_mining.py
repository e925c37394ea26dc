"""Hard negatives on text: in-batch only, sentence-transformers' offline ``mine_hard_negatives``,
and our miner (once, refreshed, without the false-negative filter) — same trainer, data and steps.

    .venv/bin/python benchmarks/text_mining.py --data-dir ../shared/data --seeds 42 43 44
    .venv/bin/python benchmarks/text_mining.py --table      # aggregate the finished runs

Training pairs: STS-B train pairs scored >= 4 (sentence1 -> sentence2) and SICK train ENTAILMENT
pairs (A -> B). Mining corpus: every STS-B train and SICK train sentence plus Leipzig sentences
5,000-9,999 (the first 5,000 are the retrieval distractors, so never seen in training).
Known paraphrases: sentences joined by any training pair form one cluster
(``multicl.modalities.text_pair_mining``: union-find); the
*known false-negative rate* is the share of mined negatives in the anchor's cluster (a lower
bound on the real rate: unlabelled paraphrases are not counted).

Rows (the objective is InfoNCE at temperature 0.05 on multicl's trainer in every row but the peer):
- ``in_batch``: in-batch negatives, known paraphrases masked (our policy); ``in_batch_nomask``:
  the same without the masking (only exact duplicate texts masked: MNRL's objective);
- ``st_once`` / ``st_once_margin``: one negative per pair from sentence-transformers'
  ``mine_hard_negatives`` with the starting model (ranks 0-29, random sampling; without and with
  ``relative_margin=0.05``), fed as fixed hard negatives;
- ``ours_once``: our miner, mined once (refresh 0), our filter (known paraphrases, NV-Retriever
  ratio 0.95 of the positive's similarity, ranks 3-29 of the survivors), a fresh draw per step;
- ``ours_refresh``: the same, corpus re-embedded and re-mined every ``--refresh-every`` steps;
- ``ours_refresh_nofilter``: refreshed, no filter (ranks 0-29; only exact copies and the positive
  itself dropped), no paraphrase masking in the batch either;
- ``st_mnrl``: the peer: sentence-transformers' trainer with MultipleNegativesRankingLoss (scale 20)
  on the same pairs (in-batch negatives).

Metrics: Spearman x100 on STS-B dev and SICK trial; nDCG@10 / recall@10 on two dev retrieval sets:
STS-B dev (pairs >= 4, 260 queries, 7,648 items with Leipzig distractors; see docs/retrieval.md;
near its ceiling for this model) and SICK trial (ENTAILMENT partner among every other SICK trial
sentence, including the lexically close CONTRADICTION partners), and recall@1 there; the known
false-negative rate of the mined negatives; mining seconds and total seconds (mining + training).
All dev splits: no test split is read.
"""
from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from multicl.api import EmbeddingModel  # noqa: E402
from multicl.data.text_files import read_sentences, read_sts  # noqa: E402
from multicl.data.text_sample import TextSample  # noqa: E402
from multicl.encoders.text import resolve_text_model  # noqa: E402
from multicl.eval.report import format_table  # noqa: E402
from multicl.eval.retrieval import RetrievalEvaluator  # noqa: E402
from multicl.eval.sts import STSEvaluator  # noqa: E402
from multicl.modalities.text import TextAdapter  # noqa: E402
from multicl.modalities.text_pair_mining import label_by_paraphrase_cluster, pair_mining_data  # noqa: E402
from multicl.modalities.views_dataset import ViewsDataset  # noqa: E402
from multicl.negatives.masks import FalseNegativePolicy  # noqa: E402
from multicl.negatives.miner import HardNegativeMiner, MinerConfig  # noqa: E402
from multicl.objectives import build_objective  # noqa: E402
from multicl.recipes.retrieval_benchmark import build_stsb_beir, read_beir  # noqa: E402
from multicl.train.config import TrainerConfig  # noqa: E402
from multicl.train.learner import ContrastiveLearner  # noqa: E402
from multicl.train.metrics_log import read_metrics  # noqa: E402
from multicl.train.trainer import Trainer  # noqa: E402

ROWS = ("in_batch", "in_batch_nomask", "st_once", "st_once_margin", "ours_once", "ours_refresh", "ours_refresh_nofilter", "st_mnrl")
LABELS = {
    "before": "before (all-MiniLM-L6-v2)",
    "in_batch": "in-batch only (paraphrases masked)",
    "in_batch_nomask": "in-batch only, no masking",
    "st_once": "ST mine_hard_negatives once",
    "st_once_margin": "ST mine_hard_negatives once, relative_margin 0.05",
    "ours_once": "ours, mined once",
    "ours_refresh": "ours, refreshed",
    "ours_refresh_nofilter": "ours, refreshed, no false-negative filter",
    "st_mnrl": "sentence-transformers trainer, MNRL in-batch",
}
DISTRACTORS = 5000


def read_sick_rows(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8") as f:
        return list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))


def load_data(data: Path) -> dict:
    stsb = read_sts(data / "text/stsb/sts-train.csv")
    sick = read_sick_rows(data / "text/sick/SICK_train.txt")
    pairs = [(p.sentence1, p.sentence2) for p in stsb if p.score >= 4.0]
    pairs += [(r["sentence_A"], r["sentence_B"]) for r in sick if r["entailment_judgment"] == "ENTAILMENT"]
    pairs = [(a, b) for a, b in pairs if a.strip() and b.strip() and a != b]
    sentences = [t for p in stsb for t in (p.sentence1, p.sentence2)] + [t for r in sick for t in (r["sentence_A"], r["sentence_B"])]
    sentences += read_sentences(data / "text/unlabeled/eng_wikipedia_2016_10K-sentences.txt")[DISTRACTORS:]
    samples = label_by_paraphrase_cluster([TextSample(a, positive=b) for a, b in pairs])
    mining = pair_mining_data(samples, sentences)
    return {"samples": samples, "mining": mining, "label_of": dict(zip(mining.corpus, mining.corpus_meta["label"].tolist()))}


def sick_retrieval(path: Path) -> RetrievalEvaluator:
    """SICK trial as retrieval: sentence_A of each ENTAILMENT pair is a query, its sentence_B
    relevant; the corpus is every other SICK trial sentence, among them the lexically close
    CONTRADICTION and NEUTRAL partners (hard: SICK pairs share most of their words)."""
    rows = read_sick_rows(path)
    relevant_text: dict[str, set[str]] = {}
    for r in rows:
        if r["entailment_judgment"] == "ENTAILMENT":
            relevant_text.setdefault(r["sentence_A"], set()).add(r["sentence_B"])
    corpus = sorted({t for r in rows for t in (r["sentence_A"], r["sentence_B"])} - set(relevant_text))
    position = {t: i for i, t in enumerate(corpus)}
    queries = [q for q in relevant_text if any(t in position for t in relevant_text[q])]
    return RetrievalEvaluator(queries, corpus, [{position[t] for t in relevant_text[q] if t in position} for q in queries],
                              ks=(1, 10), hnsw=False, name="sick_retrieval")


def evaluators(data: Path, out: Path) -> list:
    """STS-B dev and SICK trial (Spearman), the STS-B dev retrieval set with Leipzig distractors,
    and SICK trial as retrieval: dev splits only."""
    beir = out / "stsb_beir"
    if not (beir / "corpus.jsonl").exists():
        build_stsb_beir(data, beir, DISTRACTORS)
    corpus, queries, qrels = read_beir(beir, "test")
    doc_ids = list(corpus)
    position = {d: i for i, d in enumerate(doc_ids)}
    retrieval = RetrievalEvaluator([queries[q] for q in queries], [corpus[d] for d in doc_ids],
                                   [{position[d] for d in qrels[q]} for q in queries], ks=(1, 10), hnsw=False, name="stsb_retrieval")
    return [STSEvaluator.from_file(data / "text/stsb/sts-dev.csv", "sts_dev"),
            STSEvaluator.from_file(data / "text/sick/SICK_trial.txt", "sick_trial"), retrieval,
            sick_retrieval(data / "text/sick/SICK_trial.txt")]


def score(model_encode, evals) -> dict[str, float]:
    out: dict[str, float] = {}
    for ev in evals:
        out.update(ev(model_encode))
    result = {"sts_dev": out["sts_dev_spearman_cosine"], "sick_trial": out["sick_trial_spearman_cosine"]}
    for name in ("stsb_retrieval", "sick_retrieval"):
        result.update({f"{name}_{m}": 100 * out[f"{name}_{m}"] for m in ("ndcg@10", "recall@10", "recall@1", "mrr@10")})
    return result


def score_before(out: Path, evals) -> dict:
    """The packaged all-MiniLM-L6-v2, scored once per results folder (``before/seed0``)."""
    path = out / "before" / "seed0" / "result.json"
    if path.exists():
        return json.loads(path.read_text())
    adapter = TextAdapter.from_pretrained(resolve_text_model("all-MiniLM-L6-v2"), max_length=32, pooling="mean")
    model = EmbeddingModel(adapter.build_encoder(), adapter.tokenizer, max_length=128, device="cpu")
    result = {**score(lambda texts: model.encode(texts, batch_size=128), evals), "seed": 0, "train_seconds": 0.0}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1))
    return result


def st_negatives(model_path: str, d: dict, relative_margin: float | None, seed: int) -> tuple[dict[tuple[str, str], str], float]:
    """(anchor, positive) -> one negative from sentence-transformers' mine_hard_negatives; seconds."""
    from datasets import Dataset
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.util import mine_hard_negatives

    torch.manual_seed(seed)
    model = SentenceTransformer(model_path, device="cpu")
    model.max_seq_length = 32
    pairs = Dataset.from_dict({"anchor": [s.text for s in d["samples"]], "positive": [s.positive for s in d["samples"]]})
    start = time.perf_counter()
    mined = mine_hard_negatives(pairs, model, corpus=d["mining"].corpus, range_min=0, range_max=30, num_negatives=1,
                                sampling_strategy="random", relative_margin=relative_margin, batch_size=128, verbose=False)
    seconds = time.perf_counter() - start
    return {(r["anchor"], r["positive"]): r["negative"] for r in mined}, seconds


def train_ours(row: str, d: dict, args, seed: int, out_dir: Path, evals) -> dict:
    model_path = resolve_text_model("all-MiniLM-L6-v2")
    labels = d["label_of"]
    mine_seconds, negatives = 0.0, {}
    if row in ("st_once", "st_once_margin"):
        negatives, mine_seconds = st_negatives(model_path, d, 0.05 if row == "st_once_margin" else None, seed)
    samples = [replace(s, hard_negative=negatives.get((s.text, s.positive))) for s in d["samples"]]
    filtered = row not in ("ours_refresh_nofilter", "in_batch_nomask")
    adapter = TextAdapter.from_pretrained(model_path, max_length=args.max_length, pooling="mean")
    encoder = adapter.build_encoder()
    policy = FalseNegativePolicy(same_label=filtered)
    miner = None
    if row.startswith("ours"):
        m = d["mining"]
        miner = HardNegativeMiner(
            m.corpus, adapter, corpus_meta=m.corpus_meta, queries=m.queries, query_meta=m.query_meta, positive_ids=m.positive_ids,
            policy=FalseNegativePolicy(same_label=filtered, max_positive_ratio=0.95 if filtered else None),
            log_dir=out_dir, config=MinerConfig(num_negatives=1, rank_window=(3, 30) if filtered else (0, 30),
                                                refresh_every=args.refresh_every if "refresh" in row else 0,
                                                embed_batch_size=128, seed=seed))
    learner = ContrastiveLearner(encoder, build_objective("info_nce", temperature=0.05), policy=policy, miner=miner)
    cfg = TrainerConfig(out_dir=str(out_dir), max_steps=args.steps, batch_size=args.batch_size, learning_rate=args.learning_rate,
                        warmup_ratio=0.1, precision=args.precision, device="cpu", eval_every=0, save_every=0, seed=seed, overwrite=True)
    summary = Trainer(learner, ViewsDataset(samples, adapter, seed=seed), adapter.collate, cfg).train()
    model = EmbeddingModel(learner.encoder, adapter.tokenizer, max_length=128, device="cpu")
    result = score(lambda texts: model.encode(texts, batch_size=128), evals)
    # the trainer's seconds include our refreshes; sentence-transformers mines before training
    result.update(train_seconds=summary["train_seconds"], mine_seconds=mine_seconds, pairs=len(samples),
                  total_seconds=summary["train_seconds"] + mine_seconds)
    if negatives:
        mined = [(s.text, s.hard_negative) for s in samples if s.hard_negative is not None]
        result["known_fn_rate"] = 100 * float(np.mean([labels[n] == labels[a] for a, n in mined]))
        result["with_negative"] = len(mined)
    if miner is not None:
        refreshes = [json.loads(x) for x in (out_dir / "miner_refreshes.jsonl").read_text().splitlines()]
        result["mine_seconds"] = sum(r["refresh_seconds"] for r in refreshes)
        result["refreshes"] = len(refreshes)
        rates = [r["train/mined_false_negative_rate"] for r in read_metrics(out_dir) if "train/mined_false_negative_rate" in r]
        result["known_fn_rate"] = 100 * float(np.mean(rates)) if rates else float("nan")
        result["window_fn_rate"] = [100 * r.get("false_negative_rate", float("nan")) for r in refreshes]
    return result


def train_peer(d: dict, args, seed: int, evals) -> dict:
    from _peer_st import train_sentence_transformers

    samples = d["samples"]
    model, seconds = train_sentence_transformers(resolve_text_model("all-MiniLM-L6-v2"), samples, "sup", args.steps, args.batch_size,
                                                 args.learning_rate, 0.05, args.max_length, seed, bf16=args.precision == "bf16")
    model.max_seq_length = 128
    result = score(lambda texts: model.encode(texts, batch_size=128), evals)
    result.update(train_seconds=seconds, mine_seconds=0.0, total_seconds=seconds, pairs=len(samples))
    return result


def load_runs(out: Path) -> dict[str, list[dict]]:
    """``row name -> [result of each seed]`` from ``out/<row>/seed*/result.json``."""
    runs: dict[str, list[dict]] = {}
    for f in sorted(out.glob("*/seed*/result.json")):
        runs.setdefault(f.parent.parent.name, []).append(json.loads(f.read_text()))
    return runs


def cell(rs: list[dict], key: str, digits: int = 2) -> str:
    """Mean ± std (ddof=1) of ``key`` over the runs that have it (NaN skipped); '-' when none."""
    values = [r[key] for r in rs if key in r and r[key] == r[key]]
    if not values:
        return "-"
    return f"{statistics.mean(values):.{digits}f}" + (f" ± {statistics.stdev(values):.{digits}f}" if len(values) > 1 else "")


def table(out: Path) -> str:
    runs = load_runs(out)
    rows = []
    for name in ("before",) + ROWS:
        if name in runs:
            rs = runs[name]
            rows.append([LABELS[name], cell(rs, "sts_dev"), cell(rs, "sick_trial"),
                         cell(rs, "stsb_retrieval_ndcg@10"), cell(rs, "stsb_retrieval_recall@10"),
                         cell(rs, "sick_retrieval_ndcg@10"), cell(rs, "sick_retrieval_recall@10"), cell(rs, "sick_retrieval_recall@1"),
                         cell(rs, "known_fn_rate", 1), cell(rs, "mine_seconds", 0), cell(rs, "total_seconds", 0),
                         ",".join(str(r["seed"]) for r in rs)])
    return format_table(rows, ["run", "STS-B dev", "SICK trial", "STS-B ret. nDCG@10", "STS-B ret. R@10", "SICK ret. nDCG@10",
                               "SICK ret. R@10", "SICK ret. R@1", "known FN %", "mine s", "total s", "seeds"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default="../shared/data")
    parser.add_argument("--rows", nargs="+", default=list(ROWS), choices=ROWS)
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 43, 44])
    parser.add_argument("--steps", type=int, default=80)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=3e-5)
    parser.add_argument("--max-length", type=int, default=32)
    parser.add_argument("--refresh-every", type=int, default=20)
    parser.add_argument("--precision", default="bf16", choices=["no", "bf16"])
    parser.add_argument("--out", default="benchmarks/results/text_mining")
    parser.add_argument("--table", action="store_true", help="only print the table of the finished runs")
    args = parser.parse_args()
    out = Path(args.out)
    if args.table:
        print(table(out))
        return
    data = Path(args.data_dir)
    d = load_data(data)
    evals = evaluators(data, out)
    print(f"[text_mining] {len(d['samples'])} pairs, corpus {len(d['mining'].corpus)} sentences, "
          f"{len(set(s.label for s in d['samples']))} paraphrase clusters among anchors", flush=True)
    score_before(out, evals)
    for seed in args.seeds:
        for row in args.rows:
            run_dir = out / row / f"seed{seed}"
            torch.manual_seed(seed)
            start = time.perf_counter()
            result = train_peer(d, args, seed, evals) if row == "st_mnrl" else train_ours(row, d, args, seed, run_dir / "run", evals)
            result.update(seed=seed, wall_seconds=time.perf_counter() - start, config={k: v for k, v in vars(args).items() if k != "rows"})
            run_dir.mkdir(parents=True, exist_ok=True)
            (run_dir / "result.json").write_text(json.dumps(result, indent=1))
            print(json.dumps({"row": row, **{k: v for k, v in result.items() if k != "config"}}), flush=True)
    print(table(out))


if __name__ == "__main__":
    main()
