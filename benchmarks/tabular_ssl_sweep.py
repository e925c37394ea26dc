"""Tune the security recipe's self-supervised settings on a validation split of the TRAINING file.

KDDTest+ is never looked at: 5,000 random training rows are held out, the encoder is
pre-trained on the other 20,192, and probes (all labels, and 1% of them) are scored on the
held-out rows. Each argument is one setting: corruption,temperature,mask_rate,embed_dim,steps[,encoder].

    .venv/bin/python benchmarks/tabular_ssl_sweep.py raw 0.3,0.1,0,64,600 0.3,0.1,0,64,600,ft_transformer
"""
import sys, time
import numpy as np, torch
from pathlib import Path
from multicl.recipes import security_threat as st
from multicl.data.table_preprocessing import TablePreprocessor
from multicl.modalities.tabular import TabularAdapter, encode_table
from multicl.objectives import build_objective
from multicl.negatives.masks import FalseNegativePolicy

cfg0 = st.Config(device="cpu")
frame, labels = st.load_split(cfg0.train_file, cfg0)
names, to_index = st.class_names_for(labels, labels, "normal")
y = to_index(labels)
rng = np.random.default_rng(123)
perm = rng.permutation(len(y)); val, tr = perm[:5000], perm[5000:]
pre = TablePreprocessor().fit(frame.iloc[tr])
T, V = pre.transform(frame.iloc[tr]), pre.transform(frame.iloc[val])
ytr, yval = y[tr], y[val]
raw_T, raw_V = st.raw_features(T, pre.cardinalities), st.raw_features(V, pre.cardinalities)
rows1 = st.few_label_rows(ytr, 0.01, 0)
def evaluate(zT, zV):
    full = st.probe_scores(zT, ytr, zV, yval, names, "f", 10, 0)[0]
    few = st.probe_scores(zT[rows1], ytr[rows1], zV, yval, names, "p", 10, 0)[0]
    return {k: round(v, 2) for k, v in {"full_knn": full["f_knn_category_macro_f1"], "full_lin": full["f_linear_category_macro_f1"],
            "p1_knn": few["p_knn_category_macro_f1"], "p1_lin": few["p_linear_category_macro_f1"]}.items()}
if sys.argv[1] == "raw":
    print("raw", evaluate(raw_T, raw_V)); sys.exit()
for spec in sys.argv[1:]:
    corr, temp, mask, dim, steps, *rest = spec.split(",")
    encoder_kind = rest[0] if rest else "mlp"
    cfg = st.Config(device="cpu", corruption=float(corr), temperature=float(temp), mask_rate=float(mask), embed_dim=int(dim), max_steps=int(steps))
    torch.manual_seed(0)
    ad = TabularAdapter(T, pre, corruption=cfg.corruption, mask_rate=cfg.mask_rate, embed_dim=cfg.embed_dim, encoder=encoder_kind)
    enc = ad.build_encoder()
    t = time.time()
    st.pretrain(ad, st.contrastive_learner(enc, build_objective("info_nce", temperature=cfg.temperature), FalseNegativePolicy(), cfg), Path(f"runs/tabular_ssl_sweep/{spec}"), cfg.max_steps,
                st.Config(**{**cfg.__dict__}))
    print(spec, evaluate(encode_table(enc, T), encode_table(enc, V)), round(time.time() - t), flush=True)
