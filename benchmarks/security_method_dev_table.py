"""The security recipe's method-selection criterion over finished dev runs (issue 18).

Each run folder is ``python -m multicl.recipes.security_threat --eval-split dev --finetune-steps 0 --method M --seed S
--out-dir <run>`` (its ``config.json`` names the method and seed). Criterion (benchmarks/results/security_threat_methods/RULE.md):
the headline probe's (linear on [SSL embedding, raw features]) category macro-F1, averaged over the 1 / 5 / 10 / 100 %
label fractions (5 draws each) and over dev and hard dev, then mean ± std over seeds (ddof=1); beside it the same on the
embedding alone and on the raw features, and all labels only.

    .venv/bin/python benchmarks/security_method_dev_table.py --runs benchmarks/results/security_threat_swav_dino/*_s* --out benchmarks/results/security_threat_swav_dino/dev_table.md
"""
from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from multicl.eval.report import format_table

FRACTIONS = ("1pct", "5pct", "10pct", "100pct")


def criterion(m: dict, features: str) -> float:
    return float(np.mean([m[f"{p}_{f}_{features}_linear_category_macro_f1"] for f in FRACTIONS for p in ("dev", "dev_hard")]))


def mean_std(values: list[float]) -> str:
    v = np.asarray(values, dtype=float)
    return f"{v.mean():.2f} ± {v.std(ddof=1):.2f}" if len(v) > 1 else f"{v[0]:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=Path, nargs="+", required=True)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    by_method: dict[str, list[tuple[int, dict]]] = defaultdict(list)
    for run in args.runs:
        config = json.loads((run / "config.json").read_text())
        config = config.get("config", config)
        by_method[config["method"]].append((int(config["seed"]), json.loads((run / "metrics.json").read_text())))
    rows = []
    for method, runs in sorted(by_method.items(), key=lambda kv: -np.mean([criterion(m, "concat") for _, m in kv[1]])):
        ms = [m for _, m in sorted(runs, key=lambda r: r[0])]
        rows.append([method, ",".join(str(s) for s, _ in sorted(runs, key=lambda r: r[0])), mean_std([criterion(m, "concat") for m in ms]),
                     f"{mean_std([m['dev_100pct_concat_linear_category_macro_f1'] for m in ms])} / "
                     f"{mean_std([m['dev_hard_100pct_concat_linear_category_macro_f1'] for m in ms])}",
                     mean_std([criterion(m, "pretrained") for m in ms]), mean_std([criterion(m, "raw") for m in ms])])
    text = format_table(rows, ["method", "seeds", "criterion (concat linear, 4 fractions x dev/hard)", "all labels concat linear dev / hard",
                               "embedding-alone linear criterion", "raw linear criterion"])
    if args.out:
        args.out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
