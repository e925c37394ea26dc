"""security_threat step 5 on a split with a shift in time: whitened vs unwhitened saved space (issue 18).

The KDD Cup 99 10% file split in time (:func:`multicl.data.kddcup99.later_recording_split`, as the anomaly studies use
it): security_threat's preprocessing and SSL pre-training (its defaults, labels hidden) on every distinct row of the
earlier recording (normal and attacks), the whitening (ZCA, Ledoit-Wolf) fitted on those rows' saved vectors
``[unit(SSL), unit(raw)]``, the kNN reference = the earlier distinct normal rows, scored: the distinct rows recorded
after them. Step 5's three scores (cosine 10-NN whitened / unwhitened; raw squared-L2 10-NN): AUROC and detection at 1%
false alarms. The rule: ``benchmarks/results/security_whitening/RULE_step5.md`` (addendum).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/security_step5_later.py --seed 0      # then --seed 1, then --table 0 1
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from multicl.data.kddcup99 import later_recording_split
from multicl.data.nsl_kdd import read_connection_records
from multicl.data.table_preprocessing import TablePreprocessor
from multicl.eval.anomaly import detection_scores, knn_anomaly_scores
from multicl.eval.report import format_table
from multicl.utils.whitening import fit_whitening
from multicl.modalities.tabular import encode_table
from multicl.recipes import security_anomaly as sa
from multicl.recipes import security_threat as st

OUT = Path("benchmarks/results/security_whitening")
DETECTORS = ("whitened", "unwhitened", "raw_l2")


def run(seed: int) -> dict:
    start = time.perf_counter()
    frame = read_connection_records(sa.Config().kdd_file).to_frame()
    is_normal = frame["attack"].to_numpy() == "normal"
    frame = frame.drop(columns=["attack"])
    keys = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    split = later_recording_split(is_normal, keys)
    cut = int(split.test.min())
    _, first = np.unique(keys[:cut], return_index=True)
    fit_rows = np.sort(first)  # every distinct earlier row, attacks included (step 5 hides the labels, it does not drop rows)
    fit_frame = frame.iloc[fit_rows].reset_index(drop=True)
    normal_ref = np.isin(fit_rows, split.train)
    pre = TablePreprocessor(scaling=st.Config().scaling).fit(fit_frame)
    fit_table, later_table = pre.transform(fit_frame), pre.transform(frame.iloc[split.test].reset_index(drop=True))
    with tempfile.TemporaryDirectory() as tmp:
        _, _, encoder, _ = st.pretrained_encoders(fit_table, pre, st.Config(seed=seed, device="cpu"), Path(tmp))
    raw_fit, raw_later = (st.raw_features(t, pre.cardinalities) for t in (fit_table, later_table))
    v_fit, v_later = st.concat_features(encode_table(encoder, fit_table), raw_fit), st.concat_features(encode_table(encoder, later_table), raw_later)
    w = fit_whitening(v_fit)
    scores = {"whitened": knn_anomaly_scores(w.apply(v_fit[normal_ref]).astype(np.float32), w.apply(v_later).astype(np.float32), 10),
              "unwhitened": knn_anomaly_scores(v_fit[normal_ref], v_later, 10),
              "raw_l2": knn_anomaly_scores(raw_fit[normal_ref], raw_later, 10, space="l2")}
    result = {name: detection_scores(s, split.test_is_anomaly, prefix="later") for name, s in scores.items()}
    result["rows"] = {"fit": int(len(fit_rows)), "normal_reference": int(normal_ref.sum()), "later": int(len(split.test))}
    result["seed"], result["wall_seconds"] = seed, time.perf_counter() - start
    return result


def table(results: list[dict]) -> str:
    rows = [[name, *(f"{np.mean([r[name][k] for r in results]):.2f}" for k in ("later_auroc", "later_detection_at_1pct_fpr")),
             " / ".join(f"{r[name]['later_auroc']:.2f}" for r in results)] for name in DETECTORS]
    m = {name: np.mean([r[name]["later_auroc"] for r in results]) for name in DETECTORS}
    keep = m["whitened"] >= m["unwhitened"] and m["whitened"] >= m["raw_l2"]
    return (format_table(rows, ["step 5 score (later recording)", "AUROC", "det@1%", "AUROC per seed"])
            + f"\nseeds {[r['seed'] for r in results]}; rows {results[0]['rows']}\n"
            + f"rule (whitened AUROC >= unwhitened and >= raw L2 10-NN): {'keep the whitening' if keep else 'back to the unwhitened space'}\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--table", type=int, nargs="+", metavar="SEED", help="the table over stored seeds instead of a run")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.table:
        text = table([json.loads((args.out / f"step5_later_seed{s}.json").read_text()) for s in args.table])
        (args.out / "step5_later.md").write_text(text)
    else:
        result = run(args.seed)
        (args.out / f"step5_later_seed{args.seed}.json").write_text(json.dumps(result, indent=1))
        text = table([result])
    print(text)


if __name__ == "__main__":
    main()
