"""security_threat: whiten the saved space ``[unit(SSL), unit(raw)]`` before kNN? (NSL-KDD dev only; rule first)

From one dev run of the recipe (its ``model/``), this scores the saved space, its ZCA whitening and half whitening (a
Ledoit-Wolf covariance fitted on the fit rows' saved vectors; ``multicl/utils/whitening.py``) and the raw features alone
with the recipe's kNN and linear probes at every label fraction and step 5's anomaly score, as the raw-block study did.
The rule: ``results/security_whitening/RULE.md``. ``--stage test``: the same scoring of a test run (fit = the whole
training file, scored on KDDTest+ / KDDTest-21), for the record.

    OMP_NUM_THREADS=1 .venv/bin/python -m multicl.recipes.security_threat --eval-split dev --finetune-steps 0 --label-fractions 1.0 --label-draws 1 --seed 0 --out-dir <fresh>
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/security_whitening.py --run <that dir> --seed 0
    .venv/bin/python benchmarks/security_whitening.py --rank 0 1
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from multicl.eval.report import format_table
from multicl.utils.whitening import fit_whitening
from multicl.recipes import security_threat as st

from _security_dev import fraction_study_main, load_security_dev, score_spaces
from security_raw_block import ANOMALY_KEYS, anomaly_cell, terms

OUT = Path("benchmarks/results/security_whitening")
CURRENT, RAW = "[unit(SSL), unit(raw)] (current)", "raw features alone"
CANDIDATES = {"zca": 0.5, "zca_half": 0.25}


def spaces(z_fit, z_dev, raw_fit, raw_dev) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    saved = st.concat_features(z_fit, raw_fit).astype(np.float64), st.concat_features(z_dev, raw_dev).astype(np.float64)
    out = {CURRENT: saved}
    for name, power in CANDIDATES.items():
        w = fit_whitening(saved[0], power=power)  # fitted on the fit rows only
        out[name] = (w.apply(saved[0]), w.apply(saved[1]))
    return out | {RAW: (raw_fit, raw_dev)}


def score_run(run: Path, seed: int, fractions, draws: int, k: int) -> dict:
    data = load_security_dev(run)
    return {"run": str(run), "seed": seed, "knn_k": k,
            **score_spaces(data, spaces(data.z_fit, data.z_dev, data.raw_fit, data.raw_dev), seed, fractions, draws, k)}


def render(results: list[dict]) -> str:
    fractions = list(results[0]["knn"][CURRENT])
    rows = []
    for name in (CURRENT, *CANDIDATES, RAW):
        t = terms(results, name)
        cells = [f"{np.mean([np.mean(np.array(r[probe][name][f])[:, 0]) for r in results]):.2f} / "
                 f"{np.mean([np.mean(np.array(r[probe][name][f])[:, 1]) for r in results]):.2f}"
                 for probe in ("knn", "linear") for f in fractions]
        rows.append([name, f"{t['criterion']:.3f}", f"{t['knn']:.2f}", f"{t['linear']:.2f}", f"{t['anomaly']:.2f}", *cells,
                     anomaly_cell(results, name)])
    l2 = "raw features alone, squared L2"
    rows.append([l2 + " (anomaly only)", "-", "-", "-", "-", *["-"] * (2 * len(fractions)), anomaly_cell(results, l2)])
    header = ["space (dev)", "criterion", "kNN term", "linear term", "anomaly term",
              *[f"kNN {100 * float(f):g}%: dev / hard" for f in fractions], *[f"linear {100 * float(f):g}%: dev / hard" for f in fractions],
              "anomaly " + " / ".join(ANOMALY_KEYS)]
    current = terms(results, CURRENT)
    lines = []
    for name in CANDIDATES:
        t = terms(results, name)
        gain = t["criterion"] - current["criterion"]
        worst = min(t[k] - current[k] for k in ("knn", "linear", "anomaly"))
        lines.append(f"{name} - current: criterion {gain:+.3f}, worst term {worst:+.3f}; rule (> +0.3, no term below -0.3): "
                     f"{'passes' if gain > 0.3 and worst >= -0.3 else 'fails'}")
    seeds = [r["seed"] for r in results]
    return format_table(rows, header) + "\n" + "\n".join(lines) + f"\nseeds {seeds}; k = {results[0]['knn_k']}; label draws " \
        f"per fraction < 100%: {len(results[0]['knn'][CURRENT][fractions[0]])}\n"


if __name__ == "__main__":
    fraction_study_main(__doc__, OUT, score_run, render)
