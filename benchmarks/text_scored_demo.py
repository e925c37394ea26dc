"""The embedded scored-pairs demo: who did what to whom (written for the project, licence-clean).

    python benchmarks/text_scored_demo.py --write        # (re)generate multicl/resources/demo_scored_*.tsv
    python benchmarks/text_scored_demo.py --seeds 1 2 3  # the demo over 3 seeds: before/after table

Each pair is two short sentences about two people and an action; the gold score (0-5) says
whether they describe the same event: the same event in other words (passive voice, a cleft)
scores 5 / 4.6; the same people with another action 2.4; one person replaced 2.0; the roles
swapped ("the nurse thanked the doctor" / "the doctor thanked the nurse") 1.2; the event
denied 0.8; another event 0. Off-the-shelf sentence embeddings rank swapped roles and
negations close to paraphrases (the words are the same), which is what training fixes. The
dev pairs use people and verbs that never occur in the training pairs.
"""
from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESOURCES = ROOT / "multicl" / "resources"

# (past, past participle, base)
TRAIN_VERBS = [("thanked", "thanked", "thank"), ("called", "called", "call"), ("helped", "helped", "help"),
               ("paid", "paid", "pay"), ("interviewed", "interviewed", "interview"), ("trained", "trained", "train"),
               ("warned", "warned", "warn"), ("visited", "visited", "visit"), ("followed", "followed", "follow"),
               ("hired", "hired", "hire"), ("praised", "praised", "praise"), ("blamed", "blamed", "blame")]
DEV_VERBS = [("invited", "invited", "invite"), ("greeted", "greeted", "greet"), ("questioned", "questioned", "question"),
             ("rescued", "rescued", "rescue"), ("replaced", "replaced", "replace"), ("recognised", "recognised", "recognise"),
             ("taught", "taught", "teach"), ("met", "met", "meet")]
TRAIN_PEOPLE = ["nurse", "doctor", "teacher", "student", "pilot", "lawyer", "chef", "farmer", "banker", "driver",
                "singer", "manager"]
DEV_PEOPLE = ["engineer", "soldier", "artist", "judge", "baker", "tailor", "sailor", "miner", "poet", "dentist"]


def make_pairs(people, verbs, count, seed):
    rng = random.Random(seed)
    rows = []

    def active(x, v, y):
        return f"The {x} {v[0]} the {y}."

    def passive(x, v, y):
        return f"The {y} was {v[1]} by the {x}."

    kinds = ["paraphrase", "cleft", "other_action", "other_person", "swap", "negation", "unrelated"]
    for i in range(count):
        x, y, z, w = rng.sample(people, 4)
        v, u = rng.sample(verbs, 2)
        kind = kinds[i % len(kinds)]
        first = active(x, v, y) if rng.random() < 0.7 else passive(x, v, y)
        if kind == "paraphrase":
            score, second = 5.0, passive(x, v, y) if first.startswith(f"The {x} ") else active(x, v, y)
        elif kind == "cleft":
            score, second = 4.6, f"It was the {x} who {v[0]} the {y}."
        elif kind == "other_action":
            score, second = 2.4, rng.choice([active, passive])(x, u, y)
        elif kind == "other_person":
            score, second = 2.0, rng.choice([active, passive])(x, v, z)
        elif kind == "swap":
            score, second = 1.2, rng.choice([active, passive])(y, v, x)
        elif kind == "negation":
            score, second = 0.8, rng.choice([f"The {x} did not {v[2]} the {y}.", f"The {y} was not {v[1]} by the {x}."])
        else:
            score, second = 0.0, rng.choice([active, passive])(z, u, w)
        rows.append((score, first, second) if rng.random() < 0.5 else (score, second, first))
    return rows


def write() -> None:
    for name, people, verbs, count, seed in (("demo_scored_pairs.tsv", TRAIN_PEOPLE, TRAIN_VERBS, 420, 0),
                                             ("demo_scored_dev.tsv", DEV_PEOPLE, DEV_VERBS, 140, 1)):
        rows = make_pairs(people, verbs, count, seed)
        (RESOURCES / name).write_text("".join(f"{s:.1f}\t{a}\t{b}\n" for s, a, b in rows), encoding="utf-8")
        print(f"wrote {len(rows)} pairs to {RESOURCES / name}")


def run_seeds(seeds, out: Path, extra: list[str]) -> None:
    sys.path.insert(0, str(ROOT))
    from multicl.eval.report import format_table
    from multicl.recipes import text_simcse

    results = []
    for seed in seeds:
        cfg = text_simcse.Config(mode="scored", out_dir=str(out / f"multicl_seed{seed}"), seed=seed, overwrite=True, device="cpu")
        results.append(text_simcse.main(cfg))
    keys = [k[len("before_"):] for k in results[0] if k.startswith("before_") and k.endswith("spearman_cosine")]

    def cell(values):
        return f"{statistics.mean(values):.2f}" + (f" ± {statistics.stdev(values):.2f}" if len(values) > 1 else "")

    rows = [[k.replace("_spearman_cosine", ""), cell([r[f"before_{k}"] for r in results]), cell([r[f"after_{k}"] for r in results]),
             cell([r[f"after_{k}"] - r[f"before_{k}"] for r in results])] for k in keys]
    rows.append(["train s", "-", cell([r["train_seconds"] for r in results]), "-"])
    table = format_table(rows, ["set", "before", "after", "delta"])
    print(f"\nembedded scored demo, seeds {seeds}:\n{table}")
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=1))
    (out / "table.md").write_text(table + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help="regenerate the embedded files")
    parser.add_argument("--seeds", type=int, nargs="*", default=[])
    parser.add_argument("--out", default="benchmarks/results/text_scored_demo")
    args, extra = parser.parse_known_args()
    if args.write:
        write()
    if args.seeds:
        run_seeds(args.seeds, Path(args.out), extra)


if __name__ == "__main__":
    main()
