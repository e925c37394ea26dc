"""TS2Vec as its own code trains it: one crop geometry per batch and no gradient clipping? (issue 18; rule first)

A read-through against yuezhihan/ts2vec (docs/series.md, "Fidelity to TS2Vec's code") found the encoder, loss, data
scaling, optimiser and evaluation equal, and two differences: the original draws the crop lengths once per batch
(every row the same overlap, a random position per row) where ours draws a whole crop per series, and ours clips
gradients at norm 1.0 where the original does not. Here the faithful variant (``--ts2vec-crops per_batch
--ts2vec-max-grad-norm 0``) is run on the same sets, splits and seeds as ``benchmarks/series_standardise.py``, whose
JSON holds the current defaults' figures; both spaces (TS2Vec's own output and the saved, standardised one) are
scored by the recipe's four probes. The rule: ``benchmarks/results/series_ts2vec_fidelity/RULE.md``.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/series_ts2vec_fidelity.py --sktime-root <sets> --split-seeds 0 1 2
"""
from __future__ import annotations

import functools
import json
import sys
from pathlib import Path

import numpy as np

from multicl.eval.report import format_table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _series_sets import PROBES, run_cells, series_study_args  # noqa: E402
from series_standardise import run  # noqa: E402

FAITHFUL = ("--ts2vec-crops", "per_batch", "--ts2vec-max-grad-norm", "0")
BASELINE = Path("benchmarks/results/series_standardise")


def render(faithful: dict, current: dict, sets: list[str], seeds: list[int], stage: str, out: Path) -> str:
    """Per set the mean over splits of each (variant, space, probe), the mean over sets, and the rule's terms."""
    rows, means = [], {}
    for variant, results in (("current defaults", current), ("faithful (per-batch crops, no clipping)", faithful)):
        for space in ("saved", "standardised"):
            for p in PROBES:
                values = [np.mean([results[f"{ds}/{s}"][space][p] for s in seeds]) for ds in sets]
                means[(variant, space, p)] = float(np.mean(values))
                label = "TS2Vec's own output" if space == "saved" else "standardised (saved)"
                rows.append([variant, label, p, *(f"{v:.1f}" for v in values), f"{means[(variant, space, p)]:.2f}"])
    text = format_table(rows, ["training", "space", "probe", *sets, "mean"])
    text += f"\n{stage} accuracy, mean over split seeds {seeds} (each also the run's seed)"
    cur = [means[("current defaults", "standardised", p)] for p in PROBES]
    new = [means[("faithful (per-batch crops, no clipping)", "standardised", p)] for p in PROBES]
    text += (f"\nstandardised space, faithful vs current: four-probe mean {np.mean(new) - np.mean(cur):+.2f}, SVM {new[3] - cur[3]:+.2f} "
             f"(rule: each >= -0.3); per probe " + ", ".join(f"{p} {n - c:+.2f}" for p, n, c in zip(PROBES, new, cur)))
    (out / f"{stage}.md").write_text(text + "\n")
    return text


def main() -> None:
    args = series_study_args(__doc__.split("\n\n")[0], Path("benchmarks/results/series_ts2vec_fidelity"))
    results, set_names = run_cells(args, functools.partial(run, extra_args=FAITHFUL))
    current = json.loads((BASELINE / f"{args.stage}.json").read_text())
    print(render(results, current, set_names, args.split_seeds, args.stage, args.out))


if __name__ == "__main__":
    main()
