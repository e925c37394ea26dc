"""SimCSE quality and wall time: multicl's recipe vs sentence-transformers' trainer (MNRL).

Same model (packaged all-MiniLM-L6-v2), data, batch size, steps, learning rate, schedule,
temperature (MNRL scale = 1/temperature), max length and seed; both in fp32 on the same CPU.
Both are scored on the final model (no best-checkpoint selection) with the same evaluator.

    python benchmarks/text_peer_quality.py --data-dir ../shared/data --steps 150
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _peer_st import train_sentence_transformers  # noqa: E402

from multicl.encoders.text import resolve_text_model  # noqa: E402
from multicl.eval.report import format_table  # noqa: E402
from multicl.eval.sts import STSEvaluator  # noqa: E402
from multicl.recipes import text_simcse  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default="../shared/data")
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=3e-5)
    parser.add_argument("--temperature", type=float, default=0.05)
    parser.add_argument("--max-length", type=int, default=32)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", default="benchmarks/results/text_peer_quality")
    parser.add_argument("--runs", nargs="+", default=["unsup", "sup"])
    parser.add_argument("--reuse", action="store_true", help="keep finished multicl runs with the same config")
    args = parser.parse_args()

    data = Path(args.data_dir)
    stsb_dev, sick_trial = data / "text/stsb/sts-dev.csv", data / "text/sick/SICK_trial.txt"
    train_files = {"unsup": data / "text/unlabeled/eng_wikipedia_2016_10K-sentences.txt", "sup": data / "text/sick/SICK_train.txt"}
    evaluators = [STSEvaluator.from_file(stsb_dev, "sts_dev"), STSEvaluator.from_file(sick_trial, "sick_trial")]
    out = Path(args.out)
    rows, results = [], {}
    for mode in args.runs:
        cfg = text_simcse.Config(
            mode=mode,
            train_file=str(train_files[mode]),
            dev_file=(str(stsb_dev),),
            test_file=(str(sick_trial),),
            out_dir=str(out / f"multicl_{mode}"),
            device="cpu",
            precision="no",
            seed=args.seed,
            max_steps=args.steps,
            batch_size=args.batch_size,
            learning_rate=args.learning_rate,
            temperature=args.temperature,
            max_length=args.max_length,
            eval_every=args.steps,  # score the final model, as the peer does
            keep_initial_if_better=False,
            resume=False,
        )
        done = Path(cfg.out_dir) / "metrics.json"
        if args.reuse and done.exists() and json.loads((Path(cfg.out_dir) / "config.json").read_text()) == json.loads(json.dumps(dataclasses.asdict(cfg))):
            ours = json.loads(done.read_text())  # same config already run: keep its numbers
        else:
            ours = text_simcse.main(cfg)
        before = {k: ours[f"before_{k}_spearman_cosine"] for k in ("sts_dev", "sick_trial")}
        samples = text_simcse.load_training_samples(cfg)
        start = time.perf_counter()
        st_model, st_seconds = train_sentence_transformers(
            resolve_text_model(cfg.model), samples, mode, args.steps, args.batch_size, args.learning_rate,
            args.temperature, args.max_length, args.seed,
        )
        st_model.max_seq_length = cfg.eval_max_length
        st_scores = {}
        for evaluator in evaluators:
            st_scores.update(evaluator(lambda t: st_model.encode(t, batch_size=128, convert_to_numpy=True)))
        st_wall = time.perf_counter() - start
        results[mode] = {"multicl": ours, "sentence_transformers": {**st_scores, "train_seconds": st_seconds, "wall_seconds": st_wall}}
        rows.append([f"{mode}: before (all-MiniLM-L6-v2)", before["sts_dev"], before["sick_trial"], "-", "-"])
        rows.append([f"{mode}: multicl", ours["after_sts_dev_spearman_cosine"], ours["after_sick_trial_spearman_cosine"], ours["train_seconds"], args.steps * args.batch_size / ours["train_seconds"]])
        rows.append([f"{mode}: sentence-transformers MNRL", st_scores["sts_dev_spearman_cosine"], st_scores["sick_trial_spearman_cosine"], st_seconds, args.steps * args.batch_size / st_seconds])
    table = format_table(rows, ["run", "STS-B dev", "SICK trial", "train s", "pairs/s"])
    print(table)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps({"args": vars(args), "results": results, "table": table}, indent=2, default=str))


if __name__ == "__main__":
    main()
