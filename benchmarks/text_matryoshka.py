"""Quality per embedding size: STS-B dev / SICK trial Spearman of the first d coordinates.

    python benchmarks/text_matryoshka.py --data-dir ../shared/data \
        --model before=packaged plain=benchmarks/results/text_scored/cosent/multicl_seed42/model \
                mrl=benchmarks/results/text_scored/cosent_mrl/multicl_seed42/model

Each model encodes every evaluation sentence once at full size; each prefix ``d`` is that
embedding's first ``d`` coordinates, re-normalised (what ``encode(..., truncate_dim=d)`` returns).
A name given several times (one model per seed) is reported as mean ± std (ddof=1).
"""
from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import numpy as np

from multicl import EmbeddingModel
from multicl.eval.report import format_table
from multicl.eval.sts import STSEvaluator


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default="../shared/data")
    parser.add_argument("--model", nargs="+", required=True, help="name=path ('packaged': all-MiniLM-L6-v2)")
    parser.add_argument("--dims", type=int, nargs="+", default=[384, 256, 128, 64, 32])
    parser.add_argument("--out", default="benchmarks/results/text_matryoshka.json")
    args = parser.parse_args()
    data = Path(args.data_dir)
    evaluators = [STSEvaluator.from_file(data / "text/stsb/sts-dev.csv", "sts_dev"),
                  STSEvaluator.from_file(data / "text/sick/SICK_trial.txt", "sick_trial")]
    texts = list(dict.fromkeys(t for ev in evaluators for p in ev.pairs for t in (p.sentence1, p.sentence2)))
    index = {t: i for i, t in enumerate(texts)}
    results: dict[str, list[dict[str, float]]] = {}
    for spec in args.model:
        name, _, path = spec.partition("=")
        model = EmbeddingModel.load(None if path == "packaged" else path)
        full = model.encode(texts, batch_size=128, normalize=False)
        for d in args.dims:
            if d > full.shape[1]:
                continue
            # equal to encode(..., truncate_dim=d): first d coordinates, normalised by the evaluator
            scores = {}
            for ev in evaluators:
                scores.update(ev(lambda batch: full[[index[t] for t in batch], :d]))
            results.setdefault(f"{name}@{d}", []).append({k: v for k, v in scores.items() if k.endswith("spearman_cosine")})
        print(json.dumps({"model": spec, **{k: v[-1] for k, v in results.items() if k.startswith(name + "@")}}), flush=True)
    names = list(dict.fromkeys(s.partition("=")[0] for s in args.model))

    def cell(runs: list[dict[str, float]], key: str) -> str:
        values = [r[key] for r in runs]
        return f"{statistics.mean(values):.2f}" + (f" ± {statistics.stdev(values):.2f}" if len(values) > 1 else "")

    rows = []
    for d in args.dims:
        row = [d]
        for name in names:
            r = results.get(f"{name}@{d}")
            row.append("-" if r is None else f"{cell(r, 'sts_dev_spearman_cosine')} / {cell(r, 'sick_trial_spearman_cosine')}")
        rows.append(row)
    print("\nSpearman x100, STS-B dev / SICK trial, by embedding size (first d coordinates):")
    print(format_table(rows, ["dim", *names]))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
