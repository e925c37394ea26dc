"""Choose the series embedding space per data set, on its training series only? (issue 18; rule first)

No single space wins nearest-neighbour search on every set (docs/series.md): TS2Vec as saved loses 1-NN / 5-NN to the
raw series on ArrowHead and PLAID and wins by 6-20 points on OSULeaf and ACSF1; joined with the raw series
(``--fuse-raw-weight``) it wins on PickupGestureWiimoteZ and loses on OSULeaf. Here one default TS2Vec run per set and
split is re-embedded into every candidate space (``CANDIDATES``: as saved, z-scored, and joined with the raw series at
four weights), each scored on the held-out series by the recipe's four probes, and the two selection criteria of
``multicl.eval.space_selection`` pick one candidate from the *fit* series and their labels alone (``auto_nn``,
``auto_all``). The rule: ``benchmarks/results/series_space_selection/RULE.md``.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/series_space_selection.py --sktime-root <sets> --split-seeds 0 1 2
    (--stage test --split-seeds 0 1 2: train on *_TRAIN.ts, score *_TEST.ts; --sets to choose sets)
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from multicl.eval.space_selection import CRITERIA, select_space
from multicl.recipes._sequence_eval import embedding_scores
from multicl.recipes._series_space import CANDIDATES, WEIGHTS, candidate_rows, raw_rows

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _series_sets import PROBES, default_run, probe_table, rule_terms, run_cells, series_study_args  # noqa: E402



def candidate_spaces(saved_fit: np.ndarray, saved_eval: np.ndarray, raw_fit: np.ndarray, raw_eval: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{candidate: (fit rows, eval rows)}`` (``multicl.recipes._series_space``), z-scored with the fit rows' statistics."""
    mean, std = saved_fit.mean(0), saved_fit.std(0)
    fit, held = candidate_rows(saved_fit, raw_fit, mean, std), candidate_rows(saved_eval, raw_eval, mean, std)
    return {name: (fit[name], held[name]) for name in CANDIDATES}


def run(train_file: Path, seed: int, stage: str = "dev") -> dict:
    """One default TS2Vec run (``dev``: 30% of the training file held out, split seed = seed; ``test``: *_TEST.ts)
    -> every candidate's four probe accuracies on the held-out series, the raw baselines, and each criterion's choice
    (made on the fit series) with its selection scores."""
    with default_run(train_file, seed, stage) as r:
        length = max(len(s) for s in r.fit_series)
        center, scale = r.model.reader.center, r.model.reader.scale
        spaces = candidate_spaces(r.model.encode(r.fit_series, normalize=False, show_progress_bar=False),
                                  r.model.encode(r.eval_series, normalize=False, show_progress_bar=False),
                                  raw_rows(r.fit_series, center, scale, length), raw_rows(r.eval_series, center, scale, length))
    y_fit, y_eval = r.fit_labels, r.eval_labels
    out: dict = {"raw": {p: r.metrics[f"{stage}_raw_{p}_accuracy"] for p in PROBES}, "recipe": {p: r.metrics[f"{stage}_{p}_accuracy"] for p in PROBES}}
    for name, (z_fit, z_eval) in spaces.items():
        scores = embedding_scores(z_fit, y_fit, z_eval, y_eval, 5, "p")
        out[name] = {p: scores[f"p_{p}_accuracy"] for p in PROBES}
    for criterion in CRITERIA:
        choice = select_space({name: z_fit for name, (z_fit, _) in spaces.items()}, y_fit, criterion, seed=0)
        out[f"auto_{criterion}"] = dict(out[choice.name]) | {"chosen": choice.name, "selection": choice.scores}
    return out


def main() -> None:
    args = series_study_args(__doc__.split("\n\n")[0], Path("benchmarks/results/series_space_selection"))
    results, set_names = run_cells(args, run)
    print(render(results, set_names, args.split_seeds, args.stage, args.out))


def render(results: dict, sets: list[str], seeds: list[int], stage: str, out: Path) -> str:
    """The table (per set: mean over splits / seeds, ± std ddof=1 on test; last column: the mean over sets) and the
    rule's terms, written to ``out/<stage>.md``."""
    labels = {"raw": "raw series (euclidean; LR / SVM on it)", "saved": "TS2Vec as saved (the default)", "z": "TS2Vec z-scored"}
    labels |= {f"w{w:g}": f"[z-scored TS2Vec, {w:g} x raw series]" for w in WEIGHTS}
    labels |= {f"auto_{c}": f"chosen on the fit series by '{c}'" for c in CRITERIA}
    text, means = probe_table(results, labels, PROBES, sets, seeds, stage)
    chosen = {c: {ds: [results[f"{ds}/{s}"][f"auto_{c}"]["chosen"] for s in seeds] for ds in sets} for c in CRITERIA}
    text += "\n\nchoices (per set, one per split): " + "; ".join(f"{c}: " + ", ".join(f"{ds} {'/'.join(v)}" for ds, v in chosen[c].items()) for c in CRITERIA)
    base = means["saved"]
    for c in CRITERIA:
        m = means[f"auto_{c}"]
        text += (f"\n{rule_terms(f'auto_{c}', m, base, 'saved')}; four-probe mean {np.mean(list(m.values())):.2f} "
                 f"(saved {np.mean(list(base.values())):.2f})")
    (out / f"{stage}.md").write_text(text + "\n")
    return text


if __name__ == "__main__":
    main()
