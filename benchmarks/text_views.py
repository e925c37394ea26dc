"""Unsupervised SimCSE view ablation: dropout vs word cropping vs both, 3 seeds.

    .venv/bin/python benchmarks/text_views.py --data-dir ../shared/data --seeds 42 43 44
    .venv/bin/python benchmarks/text_views.py --table

Rows (``text_simcse --mode unsup``, same data, steps, batch, lr, temperature 0.05, seed):
- ``dropout``: SimCSE: the same sentence twice, the encoder's dropout (0.1) makes the views;
- ``crop``: each side loses one random contiguous span of words (``multicl.views.text.WordCropView``,
  ``--crop-prob`` of the words removed), dropout switched off (``--dropout 0``);
- ``both``: the crops with dropout 0.1.

Training text: Leipzig Wikipedia sentences 5,000-9,999 (the first 5,000 are the retrieval
set's distractors). Scored: Spearman x100 on STS-B dev and SICK trial, nDCG@10 / recall@10 on
the STS-B dev and SICK trial retrieval sets (benchmarks/text_mining.py). The final model of each run is scored (no
best-step selection). Dev splits only.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from text_mining import DISTRACTORS, cell, evaluators, load_runs, score, score_before  # noqa: E402

from multicl.api import EmbeddingModel  # noqa: E402
from multicl.data.text_files import read_sentences  # noqa: E402
from multicl.eval.report import format_table  # noqa: E402
from multicl.recipes import text_simcse  # noqa: E402

VIEWS = {"dropout": (("dropout",), None), "crop": (("word_crop",), 0.0), "both": (("word_crop",), None)}
LABELS = {"before": "before (all-MiniLM-L6-v2)", "dropout": "dropout (SimCSE)", "crop": "word crop, no dropout", "both": "word crop + dropout"}


def table(out: Path) -> str:
    runs = load_runs(out)
    rows = [[LABELS[n], cell(runs[n], "sts_dev"), cell(runs[n], "sick_trial"), cell(runs[n], "stsb_retrieval_ndcg@10"),
             cell(runs[n], "stsb_retrieval_recall@10"), cell(runs[n], "sick_retrieval_ndcg@10"), cell(runs[n], "sick_retrieval_recall@10"),
             cell(runs[n], "train_seconds", 0), ",".join(str(r["seed"]) for r in runs[n])]
            for n in ("before", *VIEWS) if n in runs]
    return format_table(rows, ["views", "STS-B dev", "SICK trial", "STS-B ret. nDCG@10", "STS-B ret. R@10", "SICK ret. nDCG@10",
                               "SICK ret. R@10", "train s", "seeds"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default="../shared/data")
    parser.add_argument("--views", nargs="+", default=list(VIEWS), choices=list(VIEWS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 43, 44])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=3e-5)
    parser.add_argument("--crop-prob", type=float, default=0.1)
    parser.add_argument("--precision", default="bf16", choices=["no", "bf16"])
    parser.add_argument("--out", default="benchmarks/results/text_views")
    parser.add_argument("--table", action="store_true")
    args = parser.parse_args()
    out = Path(args.out)
    if args.table:
        print(table(out))
        return
    data = Path(args.data_dir)
    evals = evaluators(data, out)
    score_before(out, evals)
    train_file = out / "leipzig_5000_9999.txt"
    sentences = read_sentences(data / "text/unlabeled/eng_wikipedia_2016_10K-sentences.txt")[DISTRACTORS:]
    train_file.write_text("\n".join(sentences) + "\n", encoding="utf-8")
    for seed in args.seeds:
        for name in args.views:
            views, dropout = VIEWS[name]
            run_dir = out / name / f"seed{seed}"
            cfg = text_simcse.Config(
                mode="unsup", train_file=str(train_file), dev_file=(str(data / "text/stsb/sts-dev.csv"),),
                test_file=(str(data / "text/sick/SICK_trial.txt"),), out_dir=str(run_dir / "run"), device="cpu",
                precision=args.precision, seed=seed, max_steps=args.steps, batch_size=args.batch_size,
                learning_rate=args.learning_rate, temperature=0.05, max_length=32, views=views, view_prob=args.crop_prob,
                dropout=dropout, eval_every=args.steps, keep_initial_if_better=False, overwrite=True)
            start = time.perf_counter()
            metrics = text_simcse.main(cfg)
            model = EmbeddingModel.load(run_dir / "run" / "model", device="cpu")
            result = score(lambda texts: model.encode(texts, batch_size=128), evals)
            result.update(seed=seed, train_seconds=metrics["train_seconds"], wall_seconds=time.perf_counter() - start,
                          config=vars(args), view=name)
            (run_dir / "result.json").write_text(json.dumps(result, indent=1))
            print(json.dumps({k: v for k, v in result.items() if k != "config"}), flush=True)
    print(table(out))


if __name__ == "__main__":
    main()
