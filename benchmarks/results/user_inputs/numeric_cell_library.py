"""Issue 14 numeric cell, library path: TablePreprocessor on the clean vs the corrupted NSL-KDD
training table (one 'abc' in src_bytes, CSV line 1001), raw-feature logistic regression macro-F1
on KDDTest+ and raw-feature 10-NN anomaly AUROC, exactly as multicl.recipes.security_threat
computes its test_raw_* baselines."""
import json, sys, time, warnings
import numpy as np
warnings.filterwarnings("ignore", category=Warning, message=".*mixed types.*")
from multicl.data.table_preprocessing import TablePreprocessor
from multicl.errors import UserInputError
from multicl.eval.anomaly import detection_scores, knn_anomaly_scores
from multicl.eval.classification import classification_scores
from multicl.eval.probe import linear_predict
from multicl.recipes.security_threat import Config, class_names_for, load_split, raw_features

cfg = Config()
test_frame, test_labels = load_split(cfg.test_file, cfg)
frames = {name: load_split(f"/tmp/ui/kdd_train_{name}.csv", cfg) for name in ("clean", "abc")}
names, to_index = class_names_for(frames["clean"][1], test_labels, "normal")
y_test = to_index(test_labels)

def evaluate(label, pre, frame, train_labels):
    t = time.perf_counter()
    pre.fit(frame)
    fit_report = pre.last_report
    train_table = pre.transform(frame); train_report = pre.last_report
    test_table = pre.transform(test_frame); test_report = pre.last_report
    y_train = to_index(train_labels)
    raw_train, raw_test = raw_features(train_table, pre.cardinalities), raw_features(test_table, pre.cardinalities)
    pred = linear_predict(raw_train, y_train, raw_test, max_iter=2000, seed=0)
    f1 = classification_scores(y_test, pred, names, "x")["x_macro_f1"]
    auroc = detection_scores(knn_anomaly_scores(raw_train[y_train == 0], raw_test, 10, space="l2"), y_test > 0, prefix="a")["a_auroc"]
    row = {"case": label, "src_bytes_kind": "numeric" if "src_bytes" in pre.numeric else "categorical",
           "numeric_cols": len(pre.numeric), "categorical_cols": len(pre.categorical), "raw_width": int(raw_train.shape[1]),
           "fit_non_numeric_cells": fit_report.get("non_numeric_cells", {}), "train_imputed": train_report.get("imputed", {}),
           "test_unseen_categories": test_report.get("unseen_categories", {}),
           "raw_linear_macro_f1": round(float(f1), 2), "raw_anomaly_auroc": round(float(auroc), 2), "seconds": round(time.perf_counter() - t, 1)}
    print(json.dumps(row), flush=True)
    return row

rows = []
rows.append(evaluate("clean table, TablePreprocessor() [reference]", TablePreprocessor(), *frames["clean"]))
try:
    TablePreprocessor().fit(frames["abc"][0])
    err = None
except UserInputError as e:
    err = str(e)
print("corrupted table, TablePreprocessor() (default non_numeric='error'):", err, flush=True)
rows.append(evaluate("one 'abc', TablePreprocessor(non_numeric='nan') [after, explicit option]", TablePreprocessor(non_numeric="nan"), *frames["abc"]))
inferred_cat = TablePreprocessor().fit(frames["clean"][0]).categorical
rows.append(evaluate("one 'abc', src_bytes categorical [old behaviour re-enacted: categorical=inferred+['src_bytes']]",
                     TablePreprocessor(categorical=[*inferred_cat, "src_bytes"]), *frames["abc"]))
json.dump({"default_error": err, "rows": rows}, open("/work/main/benchmarks/results/user_inputs/numeric_cell_library.json", "w"), indent=2)
