"""security_threat's saved model is ``[unit(SSL), w * unit(raw)]``: which ``w`` for kNN and search? (NSL-KDD dev only)

A standardised linear probe does not depend on ``w``; the kNN probe, an index built on the saved model and the
step-5 anomaly score do. From one dev run of the recipe (its ``model/``: the SSL encoder inside the saved fusion
encoder), this scores the recipe's kNN probe (cosine, distance-weighted, k = ``--knn-k``) on the joined rows for each
``w`` of ``--weights``, beside the SSL embedding alone and the raw features alone, at the recipe's label fractions
and draws (``few_label_rows`` with seeds ``seed + draw``), on dev and hard dev; and the step-5 anomaly score (cosine
10-NN distance to the normal fit rows) in each space. The rule that uses it: ``results/security_concat_weight/RULE.md``.

    OMP_NUM_THREADS=1 .venv/bin/python -m multicl.recipes.security_threat --eval-split dev --finetune-steps 0 --label-fractions 1.0 --label-draws 1 --seed 0 --out-dir runs/st_dev_s0
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/security_concat_weight.py --run runs/st_dev_s0 --seed 0
    .venv/bin/python benchmarks/security_concat_weight.py --rank 0 1
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.metrics import f1_score

from multicl.eval.anomaly import detection_scores, knn_anomaly_scores
from multicl.eval.probe import knn_predict
from multicl.eval.report import format_table
from multicl.recipes import security_threat as st

from _security_dev import load_security_dev, run_study, study_parser

OUT = Path("benchmarks/results/security_concat_weight")


def spaces(z_fit, z_dev, raw_fit, raw_dev, weights) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    out = {"SSL embedding alone": (z_fit, z_dev), "raw features alone": (raw_fit, raw_dev)}
    for w in weights:
        out[f"w {w:g}"] = (st.concat_features(z_fit, raw_fit, w), st.concat_features(z_dev, raw_dev, w))
    return out


def score_run(run: Path, seed: int, weights, fractions, draws: int, k: int) -> dict:
    data = load_security_dev(run)
    y_fit, y_dev, hard = data.y_fit, data.y_dev, data.hard
    z_fit, z_dev, raw_fit, raw_dev = data.z_fit, data.z_dev, data.raw_fit, data.raw_dev
    result: dict = {"run": str(run), "seed": seed, "knn_k": k, "knn": {}, "anomaly": {}}
    normal = y_fit == 0
    for name, (a, b) in spaces(z_fit, z_dev, raw_fit, raw_dev, weights).items():
        per_fraction = {}
        for fraction in fractions:
            values = []
            for draw in range(draws if fraction < 1 else 1):
                rows = st.few_label_rows(y_fit, fraction, seed + draw)
                pred = knn_predict(a[rows], y_fit[rows], b, k, weights="distance")
                values.append([100 * f1_score(y_dev, pred, average="macro"), 100 * f1_score(y_dev[hard], pred[hard], average="macro")])
            per_fraction[f"{fraction:g}"] = values
        result["knn"][name] = per_fraction
        scores = knn_anomaly_scores(a[normal], b, 10)
        result["anomaly"][name] = {**detection_scores(scores, y_dev > 0, prefix="dev"), **detection_scores(scores[hard], y_dev[hard] > 0, prefix="hard")}
    return result


def render(results: list[dict]) -> str:
    names = list(results[0]["knn"])
    fractions = list(results[0]["knn"][names[0]])
    rows = []
    for name in names:
        per_seed = [np.mean([np.mean(r["knn"][name][f]) for f in fractions]) for r in results]  # mean over fractions, dev and hard
        cells = [f"{np.mean([np.mean(np.array(r['knn'][name][f])[:, 0]) for r in results]):.2f} / "
                 f"{np.mean([np.mean(np.array(r['knn'][name][f])[:, 1]) for r in results]):.2f}" for f in fractions]
        anomaly = f"{np.mean([r['anomaly'][name]['dev_auroc'] for r in results]):.2f} / {np.mean([r['anomaly'][name]['hard_auroc'] for r in results]):.2f}"
        rows.append([name, f"{np.mean(per_seed):.3f}", " / ".join(f"{v:.3f}" for v in per_seed), *cells, anomaly])
    header = ["space (kNN probe, dev)", "criterion", "per seed", *[f"{100 * float(f):g}% labels: dev / hard" for f in fractions],
              "anomaly AUROC dev / hard (cosine 10-NN)"]
    seeds = [r["seed"] for r in results]
    return (format_table(rows, header) + f"\nseeds {seeds}; criterion: kNN category macro-F1, mean over fractions x {{dev, hard dev}} x seeds; "
            f"k = {results[0]['knn_k']}; label draws per fraction < 100%: {len(results[0]['knn'][names[0]][fractions[0]])}\n")


def main() -> None:
    parser = study_parser(__doc__.split("\n\n")[0], OUT)
    parser.add_argument("--weights", type=float, nargs="+", default=[0.5, 0.7, 1.0, 1.4, 2.0, 3.0])
    args = parser.parse_args()
    run_study(parser, args, lambda: score_run(args.run, args.seed, args.weights, args.fractions, args.draws, args.knn_k), render)


if __name__ == "__main__":
    main()
