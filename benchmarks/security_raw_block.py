"""security_threat's saved model joins ``[unit(SSL), unit(raw)]``: should the raw block keep its magnitude? (NSL-KDD dev only)

Scaling each row's raw vector to unit length drops its magnitude; the candidate scales the block by one constant,
``raw / c`` with ``c`` the root mean squared norm of the fit rows' raw vectors. From one dev run of the recipe (its
``model/``: the SSL encoder inside the saved fusion encoder), this scores both layouts and the raw features alone with
the recipe's kNN probe (cosine, distance-weighted, k = ``--knn-k``) and linear probe (standardised logistic regression)
at the recipe's label fractions and draws (``few_label_rows`` with seeds ``seed + draw``), category macro-F1 on dev and
hard dev, and step 5's anomaly score (cosine 10-NN distance to the normal fit rows; for the raw features alone also the
squared L2 10-NN that step 5 reports as its raw baseline). The rule: ``results/security_raw_block/RULE.md``.

    OMP_NUM_THREADS=1 .venv/bin/python -m multicl.recipes.security_threat --eval-split dev --finetune-steps 0 --label-fractions 1.0 --label-draws 1 --seed 0 --out-dir runs/st_dev_s0
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/security_raw_block.py --run runs/st_dev_s0 --seed 0
    .venv/bin/python benchmarks/security_raw_block.py --rank 0 1
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from multicl.eval.probe import unit_rows
from multicl.eval.report import format_table
from multicl.recipes import security_threat as st

from _security_dev import fraction_study_main, load_security_dev, score_spaces

OUT = Path("benchmarks/results/security_raw_block")
CURRENT, CANDIDATE, RAW = "[unit(SSL), unit(raw)] (current)", "[unit(SSL), raw / c] (global scale)", "raw features alone"


def layouts(z_fit, z_dev, raw_fit, raw_dev) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    c = float(np.sqrt(np.mean(np.sum(raw_fit.astype(np.float64) ** 2, axis=1))))  # fitted on the fit rows only
    return {CURRENT: (st.concat_features(z_fit, raw_fit), st.concat_features(z_dev, raw_dev)),
            CANDIDATE: (np.concatenate([unit_rows(z_fit), raw_fit / c], 1), np.concatenate([unit_rows(z_dev), raw_dev / c], 1)),
            RAW: (raw_fit, raw_dev)}


def score_run(run: Path, seed: int, fractions, draws: int, k: int) -> dict:
    data = load_security_dev(run)
    return {"run": str(run), "seed": seed, "knn_k": k,
            **score_spaces(data, layouts(data.z_fit, data.z_dev, data.raw_fit, data.raw_dev), seed, fractions, draws, k)}


def terms(results: list[dict], name: str) -> dict[str, float]:
    """The rule's three terms for one layout, each a mean over {dev, hard dev} x seeds (and fractions)."""
    out = {}
    for probe in ("knn", "linear"):
        out[probe] = float(np.mean([np.mean(r[probe][name][f]) for r in results for f in r[probe][name]]))
    out["anomaly"] = float(np.mean([[r["anomaly"][name]["dev_auroc"], r["anomaly"][name]["hard_auroc"]] for r in results]))
    out["criterion"] = (out["knn"] + out["linear"] + out["anomaly"]) / 3
    return out


ANOMALY_KEYS = ("dev_auroc", "hard_auroc", "dev_detection_at_1pct_fpr", "hard_detection_at_1pct_fpr")


def anomaly_cell(results: list[dict], name: str) -> str:
    return " / ".join(f"{np.mean([r['anomaly'][name][key] for r in results]):.2f}" for key in ANOMALY_KEYS)


def render(results: list[dict]) -> str:
    fractions = list(results[0]["knn"][CURRENT])
    rows = []
    for name in (CURRENT, CANDIDATE, RAW):
        t = terms(results, name)
        cells = []
        for probe in ("knn", "linear"):
            cells += [f"{np.mean([np.mean(np.array(r[probe][name][f])[:, 0]) for r in results]):.2f} / "
                      f"{np.mean([np.mean(np.array(r[probe][name][f])[:, 1]) for r in results]):.2f}" for f in fractions]
        rows.append([name, f"{t['criterion']:.3f}", f"{t['knn']:.2f}", f"{t['linear']:.2f}", f"{t['anomaly']:.2f}", *cells,
                     anomaly_cell(results, name)])
    l2 = "raw features alone, squared L2"
    rows.append([l2 + " (anomaly only)", "-", "-", "-", "-", *["-"] * (2 * len(fractions)), anomaly_cell(results, l2)])
    header = ["layout (dev)", "criterion", "kNN term", "linear term", "anomaly term",
              *[f"kNN {100 * float(f):g}%: dev / hard" for f in fractions], *[f"linear {100 * float(f):g}%: dev / hard" for f in fractions],
              "anomaly AUROC dev / hard, det@1% dev / hard"]
    current, candidate = terms(results, CURRENT), terms(results, CANDIDATE)
    gain = candidate["criterion"] - current["criterion"]
    worst = min(candidate[k] - current[k] for k in ("knn", "linear", "anomaly"))
    verdict = (f"global scale - current: criterion {gain:+.3f}, worst term {worst:+.3f}; rule (> +0.3, no term below -0.3): "
               f"{'change the layout' if gain > 0.3 and worst >= -0.3 else 'no change'}")
    seeds = [r["seed"] for r in results]
    return format_table(rows, header) + f"\n{verdict}\nseeds {seeds}; k = {results[0]['knn_k']}; label draws per fraction < 100%: " \
        f"{len(results[0]['knn'][CURRENT][fractions[0]])}\n"


if __name__ == "__main__":
    fraction_study_main(__doc__, OUT, score_run, render)
