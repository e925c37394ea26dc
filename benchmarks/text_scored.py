"""Scored-pair training on STS-B train (CoSENT / AnglE / cosine regression): ours vs sentence-transformers' trainer.

    python benchmarks/text_scored.py --data-dir ../shared/data --steps 100 --seeds 42 --peer

Both sides start from the packaged all-MiniLM-L6-v2 and see the same (sentence1, sentence2,
score / 5) rows of STS-B train, batch, steps, lr with 10% warm-up and linear decay, max
length and precision (``--precision bf16``: autocast on both); both final models are scored by the same evaluator (Spearman x100 of cosine) on
STS-B dev and SICK trial. Our side is ``text_simcse --mode scored``.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from multicl.encoders.text import resolve_text_model  # noqa: E402
from multicl.eval.report import format_table  # noqa: E402
from multicl.eval.sts import STSEvaluator  # noqa: E402
from multicl.recipes import text_simcse  # noqa: E402

PEER_LOSS = {"cosent": "CoSENTLoss", "angle": "AnglELoss", "cosine_regression": "CosineSimilarityLoss"}


def train_peer(model_path, samples, objective, steps, batch_size, lr, max_length, seed, warmup_ratio=0.1, bf16=False):
    from datasets import Dataset
    from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from sentence_transformers.sentence_transformer import losses

    model = SentenceTransformer(model_path, device="cpu")
    model.max_seq_length = max_length
    data = Dataset.from_dict({"sentence1": [s.text for s in samples], "sentence2": [s.positive for s in samples],
                              "score": [float(s.score) for s in samples]})
    loss = getattr(losses, PEER_LOSS[objective])(model)
    with tempfile.TemporaryDirectory() as tmp:
        args = SentenceTransformerTrainingArguments(
            output_dir=tmp, max_steps=steps, per_device_train_batch_size=batch_size, learning_rate=lr,
            warmup_ratio=warmup_ratio, lr_scheduler_type="linear", weight_decay=0.0, max_grad_norm=1.0, seed=seed,
            save_strategy="no", eval_strategy="no", report_to="none", logging_steps=max(1, steps // 10),
            dataloader_drop_last=True, use_cpu=True, bf16=bf16, disable_tqdm=True)
        trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=data, loss=loss)
        start = time.perf_counter()
        trainer.train()
        seconds = time.perf_counter() - start
    return model, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default="../shared/data")
    parser.add_argument("--objective", default="cosent", choices=sorted(PEER_LOSS))
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=2e-5)
    parser.add_argument("--max-length", type=int, default=32)
    parser.add_argument("--precision", default="no", choices=["no", "bf16"], help="training precision of both sides (evaluation is fp32)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[42])
    parser.add_argument("--peer", action="store_true", help="also train sentence-transformers' trainer with its own loss")
    parser.add_argument("--matryoshka-dims", type=int, nargs="*", default=[])
    parser.add_argument("--out", default="benchmarks/results/text_scored")
    args = parser.parse_args()

    data = Path(args.data_dir)
    stsb_train, stsb_dev, sick_trial = data / "text/stsb/sts-train.csv", data / "text/stsb/sts-dev.csv", data / "text/sick/SICK_trial.txt"
    evaluators = [STSEvaluator.from_file(stsb_dev, "sts_dev"), STSEvaluator.from_file(sick_trial, "sick_trial")]
    out = Path(args.out) / (args.objective + ("_mrl" if args.matryoshka_dims else ""))
    results: dict[str, list[dict]] = {"before": [], "multicl": [], "peer": []}
    for seed in args.seeds:
        cfg = text_simcse.Config(
            mode="scored", objective=args.objective, train_file=str(stsb_train), dev_file=(str(stsb_dev),),
            test_file=(str(sick_trial),), out_dir=str(out / f"multicl_seed{seed}"), device="cpu", precision=args.precision,
            seed=seed, max_steps=args.steps, batch_size=args.batch_size, learning_rate=args.learning_rate,
            max_length=args.max_length, eval_every=args.steps, keep_initial_if_better=False, overwrite=True,
            score_range=(0.0, 5.0), matryoshka_dims=tuple(args.matryoshka_dims))
        ours = text_simcse.main(cfg)
        results["before"].append({"sts_dev": ours["before_sts_dev_spearman_cosine"], "sick_trial": ours["before_sick_trial_spearman_cosine"], "seconds": 0.0})
        results["multicl"].append({"sts_dev": ours["after_sts_dev_spearman_cosine"], "sick_trial": ours["after_sick_trial_spearman_cosine"], "seconds": ours["train_seconds"]})
        if args.peer:
            samples = text_simcse.load_scored_samples(cfg)
            model, seconds = train_peer(resolve_text_model(cfg.model), samples, args.objective, args.steps, args.batch_size,
                                        args.learning_rate, args.max_length, seed, bf16=args.precision == "bf16")
            model.max_seq_length = cfg.eval_max_length
            scores = {}
            for ev in evaluators:
                scores.update(ev(lambda texts: model.encode(texts, batch_size=128)))
            results["peer"].append({"sts_dev": scores["sts_dev_spearman_cosine"], "sick_trial": scores["sick_trial_spearman_cosine"], "seconds": seconds})
        print(json.dumps({k: v[-1] for k, v in results.items() if v}), flush=True)

    def cell(values):
        return f"{statistics.mean(values):.2f}" + (f" ± {statistics.stdev(values):.2f}" if len(values) > 1 else "")

    rows = []
    for name, label in (("before", "before (all-MiniLM-L6-v2)"), ("multicl", f"multicl {args.objective}"),
                        ("peer", f"sentence-transformers {PEER_LOSS[args.objective]}")):
        if results[name]:
            runs = results[name]
            rows.append([label, cell([r["sts_dev"] for r in runs]), cell([r["sick_trial"] for r in runs]),
                         "-" if name == "before" else cell([r["seconds"] for r in runs])])
    table = format_table(rows, ["run", "STS-B dev", "SICK trial", "train s"])
    print(f"\n{args.objective}, {args.steps} steps x batch {args.batch_size}, lr {args.learning_rate}, max length "
          f"{args.max_length}, {args.precision}, seeds {args.seeds}:\n{table}")
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps({"args": vars(args), "results": results}, indent=1))
    (out / "table.md").write_text(table + "\n")


if __name__ == "__main__":
    main()
