"""Security-threat detection from connection records (NSL-KDD format by default).

    python -m multicl.recipes.security_threat \
        --train-file KDDTrain+.txt --test-file KDDTest+.txt --out-dir runs/security_threat
    python -m multicl.recipes.security_threat --train-file flows.parquet --test-file test.csv --label-column label

NSL-KDD comes from the Canadian Institute for Cybersecurity (University of New Brunswick),
https://www.unb.ca/cic/datasets/nsl.html (Tavallaee et al. 2009); files without a header, 41
features, the attack name and a difficulty score. Any CSV/TSV/parquet table with a label column
works too (``--label-column``; the value ``--normal-label`` marks benign rows).

1. self-supervised pre-training on SCARF views (``--method``: Barlow Twins by default, InfoNCE
   before) on the training rows, labels hidden; 2. kNN and linear probes for attack-vs-normal and the attack categories (accuracy,
   macro-F1, per-class recall, confusion-matrix PNGs) on the embedding, on the raw features and on
   [embedding | raw features] (``concat``); NSL-KDD test files also give ``test_hard_*`` figures on
   KDDTest-21 (difficulty < 21); 3. few labels (1 / 5 / 10 / 100%, 5 draws): the pre-trained
   encoder + probe vs the same network trained supervised on those labels only vs logistic
   regression / kNN on the raw scaled features; 4. supervised-contrastive and triplet
   fine-tuning with the labels; 5. anomaly detection without attack labels: distance to the k
   nearest normal training rows (AUROC, detection rate at 1% false alarms) in the saved model's space
   (whitened by the training rows' covariance beside it: ``anomaly_whitening.npz``),
   in the SSL embedding alone and in the raw features;
   6. ``metrics.json``, ``config.json``, ``model/`` (encoder weights + preprocessing; with the default
   ``--probe-features concat`` it encodes rows as [unit(embedding), unit(raw features)], the headline
   probe's features).

Which split chose the defaults: ``--probe-features concat`` (the headline ``test_category_macro_f1``
/ ``test_binary_macro_f1`` are the linear probe on [embedding | raw]) was chosen on the dev split
(``--eval-split dev``: a stratified 25% of KDDTrain+_20Percent, seed 0, and its difficulty < 21
rows), never on KDDTest+, and so was ``--method barlow_twins`` (over info_nce, simsiam, vicreg; seeds 0
and 1, benchmarks/results/security_threat_methods/RULE.md); the other pre-training settings, the probes and k = 10 were chosen earlier on
an in-distribution split of the training file (benchmarks/tabular_ssl_sweep.py). docs/security.md
has the dev tables. The anomaly detector of step 5 is kept for comparison; the one to use is
``multicl.recipes.security_anomaly`` (NeuTraL-AD, trained on normal traffic only).
"""
from __future__ import annotations

import copy
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from multicl.data.nsl_kdd import ATTACK_CATEGORY, CATEGORIES, read_connection_records
from multicl.data.nsl_kdd_splits import HARD_BELOW, read_difficulty, stratified_dev_split
from multicl.data.table_files import read_table
from multicl.data.table_preprocessing import TablePreprocessor, TransformedTable, report_counts
from multicl.encoders.tabular_fusion import raw_row_features
from multicl.modalities.views_dataset import ViewsDataset
from multicl.models.encoders import fuse_table_encoder
from multicl.eval.anomaly import detection_scores, knn_anomaly_scores
from multicl.utils.whitening import fit_whitening
from multicl.eval.classification import classification_scores, plot_confusion
from multicl.eval.probe import knn_predict, linear_predict
from multicl.eval.report import format_table
from multicl.modalities.tabular import TabularAdapter, encode_table
from multicl.negatives.masks import FalseNegativePolicy
from multicl.objectives import build_objective
from multicl.errors import MissingColumnError, UserInputError
from multicl.recipes._cli import OVERWRITE_HELP, console_main, check_batch_fits, run_cli, start_run
from multicl.train.classifier import predict, train_classifier
from multicl.train.config import TrainerConfig
from multicl.train.learner import ContrastiveLearner
from multicl.train.dino import DINOLearner
from multicl.train.methods import MULTI_CROP_METHODS, build_learner, build_multi_crop_learner, mlp
from multicl.train.trainer import Trainer
from multicl.utils.io import atomic_write_json
from multicl.utils.paths import shared_data_dir

logger = logging.getLogger("multicl.recipes.security_threat")
SHARED = shared_data_dir() / "security" / "nsl_kdd"
SSL_METHODS = ("info_nce", "nt_xent", "dcl", "moco", "byol", "simsiam", "barlow_twins", "vicreg", "swav", "dino")  # two views, no labels


@dataclass(frozen=True)
class Config:
    train_file: str = field(default=str(SHARED / "KDDTrain+_20Percent.txt"), metadata={"help": "NSL-KDD file, or a CSV/TSV/parquet table"})
    test_file: str = field(default=str(SHARED / "KDDTest+.txt"), metadata={"help": "same format as --train-file"})
    label_column: str = field(default="label", metadata={"help": "label column of CSV/parquet tables"})
    normal_label: str = field(default="normal", metadata={"help": "label value of benign rows"})
    out_dir: str = field(default="runs/security_threat", metadata={"help": "output folder"})
    overwrite: bool = field(default=False, metadata={"help": OVERWRITE_HELP})
    device: str = field(default="auto", metadata={"help": "auto | cpu | cuda"})
    seed: int = field(default=0, metadata={"help": "seed of everything"})
    max_steps: int = field(default=1000, metadata={"help": "self-supervised pre-training steps"})
    batch_size: int = field(default=256, metadata={"help": "rows per step"})
    learning_rate: float = field(default=1e-3, metadata={"help": "AdamW learning rate"})
    method: str = field(default="barlow_twins", metadata={"help": "self-supervised method on the SCARF views: barlow_twins (chosen on the dev "
                        "split of KDDTrain+_20Percent over info_nce, simsiam and vicreg: docs/security.md) | info_nce (with --temperature "
                        "and the recipe's head; the default before) | the others of multicl.train.methods with their usual heads",
                        "choices": list(SSL_METHODS)})
    temperature: float = field(default=0.1, metadata={"help": "InfoNCE temperature"})
    corruption: float = field(default=0.3, metadata={"help": "SCARF: share of features redrawn from their marginals"})
    mask_rate: float = field(default=0.0, metadata={"help": "share of features blanked in each view"})
    noise_std: float = field(default=0.0, metadata={"help": "Gaussian noise on scaled numerics"})
    encoder: str = field(default="mlp", metadata={"help": "mlp | ft_transformer", "choices": ["mlp", "ft_transformer"]})
    embed_dim: int = field(default=64, metadata={"help": "embedding size"})
    scaling: str = field(default="quantile", metadata={"help": "numeric scaling", "choices": ["quantile", "robust", "standard"]})
    non_numeric: str = field(default="error", metadata={"help": "a non-number in a numeric column: error (names file, line, column, value) or nan (imputed, counted in metrics.json)", "choices": ["error", "nan"]})
    label_fractions: tuple[float, ...] = field(default=(0.01, 0.05, 0.1, 1.0), metadata={"help": "few-label regimes (share of training labels)"})
    label_draws: int = field(default=5, metadata={"help": "few-label subsets drawn per fraction; scores are averaged (std kept)"})
    probe_features: str = field(default="concat", metadata={"help": "features of the headline probe: embedding, or concat = [embedding | raw features] "
                                "(chosen on the dev split of the training file: docs/security.md); concat also makes model/ encode rows as "
                                "[unit(embedding), w * unit(raw features)] (TableRawFusionEncoder), so a search over it is the measured one",
                                "choices": ["embedding", "concat"]})
    concat_weight: float = field(default=1.0, metadata={"help": "concat: the raw block's scale w (cosine = (cos_z + w^2 cos_raw) / (1 + w^2); "
                                                                "the linear probe standardises, so w changes kNN and search only)"})
    eval_split: str = field(default="test", metadata={"help": "test, or dev: a stratified --dev-fraction of --train-file (model selection; "
                            "metrics keys then start with dev_)", "choices": ["test", "dev"]})
    dev_fraction: float = field(default=0.25, metadata={"help": "share of --train-file held out by --eval-split dev"})
    supervised_steps: int = field(default=500, metadata={"help": "steps of the supervised-MLP baseline"})
    finetune_steps: int = field(default=300, metadata={"help": "steps of supervised-contrastive / triplet fine-tuning (0 skips)"})
    knn_k: int = field(default=10, metadata={"help": "neighbours of the kNN probe"})
    anomaly_k: int = field(default=10, metadata={"help": "nearest normal rows averaged into the anomaly score"})
    anomaly_whitening: bool = field(default=False, metadata={"help": "step 5 scores in the saved space whitened by the training rows' "
                                    "covariance (ZCA, Ledoit-Wolf; always reported as test_whitened_anomaly_*, saved as anomaly_whitening.npz). "
                                    "Off by default: it won on NSL-KDD dev seeds and lost on a split with a shift in time "
                                    "(benchmarks/results/security_whitening/RULE_step5.md)"})

@dataclass
class Split:
    frame: Any
    category: np.ndarray  # index into class_names
    table: TransformedTable | None = None


def _is_table(path: str) -> bool:
    return any(s.lower() in (".csv", ".tsv", ".parquet") for s in Path(path).suffixes)


def load_split(path: str, cfg: Config) -> tuple[Any, np.ndarray]:
    """(features frame, per-row label string)."""
    suffixes = [s.lower() for s in Path(path).suffixes]
    if any(s in (".csv", ".tsv", ".parquet") for s in suffixes):
        frame = read_table(path)
        if cfg.label_column not in frame.columns:
            raise MissingColumnError(f"{path}: label column {cfg.label_column!r} not found; columns are {list(frame.columns)[:20]}; "
                                 f"name it with --label-column")
        raw = frame[cfg.label_column]
        empty = raw.isna().to_numpy() | (raw.astype(str).str.strip() == "").to_numpy()
        if empty.any():
            from multicl.data.table_files import line_of_row

            row = int(empty.nonzero()[0][0])
            line = line_of_row(path, int(frame.index[row]))
            raise UserInputError(f"{path} line {line if line is not None else f'(row {row})'}: empty {cfg.label_column!r} cell "
                                 f"({int(empty.sum())} rows without a label); fill them in or delete the rows")
        labels = raw.astype(str).str.strip().str.rstrip(".").to_numpy()
        return frame.drop(columns=[cfg.label_column]), labels
    records = read_connection_records(path, non_numeric=cfg.non_numeric)
    frame = records.to_frame()
    return frame.drop(columns=["attack"]), np.asarray(records.attack)


def class_names_for(train_labels: np.ndarray, test_labels: np.ndarray, normal: str) -> tuple[list[str], Any]:
    """Attack names -> the 5 NSL-KDD categories when every name is known, else the labels themselves."""
    every = set(train_labels) | set(test_labels)
    if every <= set(ATTACK_CATEGORY):
        return list(CATEGORIES), lambda labels: np.array([CATEGORIES.index(ATTACK_CATEGORY[a]) for a in labels])
    names = [normal] + sorted(every - {normal})
    if normal not in every:
        raise UserInputError(f"no row has the normal label {normal!r}; set --normal-label (labels seen: {sorted(every)[:10]})")
    index = {n: i for i, n in enumerate(names)}
    return names, lambda labels: np.array([index[a] for a in labels])


def raw_features(table: TransformedTable, cardinalities: list[int]) -> np.ndarray:
    """Scaled numerics + one-hot categoricals: the input of the raw-feature baselines (the raw block of
    :class:`~multicl.encoders.tabular_fusion.TableRawFusionEncoder`, computed by the same function)."""
    return raw_row_features(torch.from_numpy(table.numeric), torch.from_numpy(table.categorical), cardinalities).numpy()


def few_label_rows(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """A stratified ``fraction`` of the rows, at least one per class present."""
    rng = np.random.default_rng(seed)
    rows = []
    for value in np.unique(labels):
        members = np.flatnonzero(labels == value)
        take = max(1, int(round(fraction * len(members))))
        rows.append(rng.choice(members, size=take, replace=False))
    return np.sort(np.concatenate(rows))


def concat_features(z: np.ndarray, raw: np.ndarray, weight: float = 1.0) -> np.ndarray:
    """``[unit(z), weight * unit(raw)]``: what the saved TableRawFusionEncoder outputs for the same rows (tested),
    from embeddings already computed."""
    from multicl.eval.probe import join_unit_blocks

    return join_unit_blocks(z, raw, weights=(1.0, weight)).astype(np.float32)


def scores_of(test_y, pred, names: list[str], prefix: str, hard: np.ndarray | None = None) -> dict[str, float]:
    """Category and binary (category 0 = normal) scores of predictions; with ``hard`` (a row mask),
    also on those rows under ``test_hard_...`` (KDDTest-21)."""
    scores = classification_scores(test_y, pred, names, f"{prefix}_category")
    scores.update(classification_scores((test_y > 0).astype(int), (pred > 0).astype(int), ["normal", "attack"], f"{prefix}_binary"))
    if hard is not None:
        scores.update(scores_of(test_y[hard], pred[hard], names, prefix.replace("test_", "test_hard_", 1)))
    return scores


def probe_scores(train_z, train_y, test_z, test_y, names: list[str], prefix: str, k: int, seed: int,
                 hard: np.ndarray | None = None) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """kNN (cosine, distance-weighted) and logistic-regression probes on the categories, and
    binary scores derived from the category prediction (category 0 = normal)."""
    predictions = {"knn": knn_predict(train_z, train_y, test_z, k, weights="distance"),
                   "linear": linear_predict(train_z, train_y, test_z, max_iter=2000, seed=seed)}
    scores: dict[str, float] = {}
    for probe, pred in predictions.items():
        scores.update(scores_of(test_y, pred, names, f"{prefix}_{probe}", hard))
    return scores, predictions


def contrastive_learner(encoder: torch.nn.Module, objective: torch.nn.Module, policy: FalseNegativePolicy, cfg: Config) -> ContrastiveLearner:
    """``encoder`` + the recipe's projection head (256 -> 128), ``objective`` over the batch, masked by ``policy``."""
    return ContrastiveLearner(encoder, objective, head=mlp(cfg.embed_dim, 256, 128), policy=policy)


def self_supervised_learner(encoder: torch.nn.Module, cfg: Config, rows: int) -> torch.nn.Module:
    """``--method``: InfoNCE (the recipe's head and ``--temperature``) or a method of
    :func:`multicl.train.methods.build_learner` with its usual heads (projection 128, hidden 256)."""
    if cfg.method == "info_nce":
        return contrastive_learner(encoder, build_objective("info_nce", temperature=cfg.temperature), FalseNegativePolicy(), cfg)
    if cfg.method in MULTI_CROP_METHODS:  # two SCARF views as DINO's / SwAV's two global crops; the audio and series recipes' settings
        return build_multi_crop_learner(cfg.method, encoder, cfg.embed_dim, queue_length=min(1024, rows))
    # MoCo's queue: 4,096 keys, or a quarter of a small table (a queue near the table's size holds the anchors' own rows)
    return build_learner(cfg.method, encoder, cfg.embed_dim, projection_dim=128, hidden_dim=256, dataset_size=rows,
                         queue_size=min(4096, max(1, rows // 4)))


def pretrain(adapter: TabularAdapter, learner: torch.nn.Module, out_dir: Path, steps: int, cfg: Config) -> dict[str, Any]:
    """Train ``learner`` (its encoder in place) for ``steps`` on ``adapter``'s views of every row."""
    trainer_cfg = TrainerConfig(out_dir=str(out_dir), max_steps=steps, batch_size=cfg.batch_size, learning_rate=cfg.learning_rate,
                                weight_decay=1e-5, warmup_ratio=0.05, lr_schedule="cosine", seed=cfg.seed, device=cfg.device,
                                precision="auto", log_every=20, save_every=None, progress_bar=True)  # None: every tenth of the run
    return Trainer(learner, ViewsDataset(list(range(len(adapter.table))), adapter, seed=cfg.seed), adapter.collate, trainer_cfg).train()


def pretrained_encoders(table: TransformedTable, pre: TablePreprocessor, cfg: Config, out_dir: Path
                        ) -> tuple[TabularAdapter, torch.nn.Module, torch.nn.Module, dict[str, Any]]:
    """The recipe's SCARF views of ``table`` and ``--method``'s pre-training for ``cfg.max_steps`` ->
    ``(adapter, random-init encoder, the same encoder pre-trained, the trainer's summary)``."""
    adapter = TabularAdapter(table, pre, corruption=cfg.corruption, mask_rate=cfg.mask_rate, noise_std=cfg.noise_std,
                             encoder=cfg.encoder, embed_dim=cfg.embed_dim)
    random_encoder = adapter.build_encoder()
    encoder = copy.deepcopy(random_encoder)
    learner = self_supervised_learner(encoder, cfg, len(table))
    summary = pretrain(adapter, learner, out_dir, cfg.max_steps, cfg)
    if isinstance(learner, DINOLearner):  # DINO's EMA teacher is the encoder its paper evaluates (and the audio / series recipes save)
        encoder = learner.teacher_encoder
    return adapter, random_encoder, encoder, summary


def load_splits(cfg: Config) -> tuple[Any, np.ndarray, Any, np.ndarray, np.ndarray | None]:
    """``(train_frame, train_labels, test_frame, test_labels, hard)``: with ``--eval-split dev`` the fit and dev
    parts of ``--train-file`` (stratified, seed 0; the test file is never read), else the train and test files;
    ``hard``: the scored rows with difficulty < 21 (NSL-KDD files; ``None`` for other tables)."""
    train_frame, train_labels = load_split(cfg.train_file, cfg)
    train_difficulty = read_difficulty(cfg.train_file) if not _is_table(cfg.train_file) else None
    if cfg.eval_split == "dev":  # model selection: the test file is never read
        fit, dev = stratified_dev_split(train_labels, cfg.dev_fraction, seed=0)
        hard = None if train_difficulty is None else train_difficulty[dev] < HARD_BELOW
        return (train_frame.iloc[fit].reset_index(drop=True), train_labels[fit],
                train_frame.iloc[dev].reset_index(drop=True), train_labels[dev], hard)
    test_frame, test_labels = load_split(cfg.test_file, cfg)
    test_difficulty = read_difficulty(cfg.test_file) if not _is_table(cfg.test_file) else None
    return train_frame, train_labels, test_frame, test_labels, None if test_difficulty is None else test_difficulty < HARD_BELOW


def main(cfg: Config) -> dict[str, float]:
    start = time.perf_counter()
    if not cfg.concat_weight > 0:
        raise UserInputError(f"--concat-weight {cfg.concat_weight}: the raw block's scale must be positive (1 weighs both blocks alike)")
    torch.manual_seed(cfg.seed)

    # -- data ------------------------------------------------------------------------------------
    t = time.perf_counter()
    train_frame, train_labels, test_frame, test_labels, hard = load_splits(cfg)
    names, to_index = class_names_for(train_labels, test_labels, cfg.normal_label)
    y_train, y_test = to_index(train_labels), to_index(test_labels)
    pre = TablePreprocessor(scaling=cfg.scaling, non_numeric=cfg.non_numeric).fit(train_frame)
    train_table = pre.transform(train_frame)
    read_counts = report_counts(pre.last_report, "train")
    test_table = pre.transform(test_frame)  # imputed cells and unseen categories: logged at WARNING by the preprocessor
    read_counts.update(report_counts(pre.last_report, "test"))
    check_batch_fits(len(train_table), cfg.batch_size, cfg.train_file)
    timings = {"load_and_preprocess_seconds": time.perf_counter() - t}
    # the out dir is claimed only once the data has been read and checked: a bad file leaves no run behind
    out, device = start_run(cfg)
    logger.info("[security_threat] %d training rows, %d test rows, %d numeric + %d categorical features, classes %s",
                len(train_table), len(test_table), pre.numeric_width, len(pre.categorical), names)
    metrics: dict[str, float] = dict(read_counts)  # cells imputed, non-numbers, unseen categories

    # -- 1. self-supervised pre-training (labels hidden) --------------------------------------------
    t = time.perf_counter()
    adapter, random_encoder, encoder, summary = pretrained_encoders(train_table, pre, cfg, out / "pretrain")
    timings["pretrain_seconds"] = time.perf_counter() - t
    import dataclasses

    from multicl.api import EmbeddingModel
    from multicl.models.card import ModelCard
    from multicl.train.run_identity import config_fingerprint

    # with --probe-features concat the saved model outputs the concat probes' features, [unit(z), w * unit(raw)]
    saved = fuse_table_encoder(encoder, cfg.concat_weight).eval() if cfg.probe_features == "concat" else encoder
    # one model folder (encoder + fitted preprocessing + card), swapped in atomically: EmbeddingModel.load(out / "model")
    EmbeddingModel.from_adapter(adapter, saved).save(out / "model", card=ModelCard.from_run(
        "security_threat", dataclasses.asdict(cfg), config_fingerprint(cfg), {"pretrain_seconds": timings["pretrain_seconds"]}))
    encoder = encoder.to(device)

    def embed(model, table):
        return encode_table(model, table, device=device)

    train_z, test_z = embed(encoder, train_table), embed(encoder, test_table)
    raw_train, raw_test = raw_features(train_table, pre.cardinalities), raw_features(test_table, pre.cardinalities)

    # -- 2. probes with all labels ----------------------------------------------------------------
    t = time.perf_counter()
    concat_train, concat_test = concat_features(train_z, raw_train, cfg.concat_weight), concat_features(test_z, raw_test, cfg.concat_weight)
    scores, predictions = probe_scores(train_z, y_train, test_z, y_test, names, "test_pretrained", cfg.knn_k, cfg.seed, hard)
    metrics.update(scores)
    plot_confusion(y_test, predictions["linear"], names, out / "confusion_pretrained_linear.png", "pre-trained encoder + linear probe")
    plot_confusion((y_test > 0).astype(int), (predictions["linear"] > 0).astype(int), ["normal", "attack"],
                   out / "confusion_pretrained_linear_binary.png", "attack vs normal (linear probe)")
    metrics.update(probe_scores(raw_train, y_train, raw_test, y_test, names, "test_raw", cfg.knn_k, cfg.seed, hard)[0])
    metrics.update(probe_scores(concat_train, y_train, concat_test, y_test, names, "test_concat", cfg.knn_k, cfg.seed, hard)[0])
    random_encoder = random_encoder.to(device)
    metrics.update(probe_scores(embed(random_encoder, train_table), y_train, embed(random_encoder, test_table), y_test, names,
                                "test_random_init", cfg.knn_k, cfg.seed, hard)[0])
    timings["probe_seconds"] = time.perf_counter() - t

    # -- 3. few labels ----------------------------------------------------------------------------
    t = time.perf_counter()

    def inputs_of_train(rows):
        return adapter.prepare_inputs(train_table[rows])

    def inputs_of_test(rows):
        return adapter.prepare_inputs(test_table[rows])

    for fraction in cfg.label_fractions:
        tag = f"{100 * fraction:g}pct".replace(".", "_")
        draws: list[dict[str, float]] = []
        for draw in range(cfg.label_draws):
            seed = cfg.seed + draw
            rows = few_label_rows(y_train, fraction, seed)
            scores = {f"labels_{tag}_count": float(len(rows))}
            scores.update(probe_scores(train_z[rows], y_train[rows], test_z, y_test, names, f"test_{tag}_pretrained", cfg.knn_k, seed, hard)[0])
            scores.update(probe_scores(raw_train[rows], y_train[rows], raw_test, y_test, names, f"test_{tag}_raw", cfg.knn_k, seed, hard)[0])
            scores.update(probe_scores(concat_train[rows], y_train[rows], concat_test, y_test, names, f"test_{tag}_concat", cfg.knn_k, seed, hard)[0])
            torch.manual_seed(seed)
            supervised = train_classifier(adapter.build_encoder(), lambda r, rows=rows: inputs_of_train(rows[r]), y_train[rows], len(names),
                                          steps=cfg.supervised_steps, batch_size=cfg.batch_size, seed=seed, device=device)
            pred = predict(supervised, inputs_of_test, len(test_table), device=device)
            scores.update(scores_of(y_test, pred, names, f"test_{tag}_supervised_mlp", hard))
            draws.append(scores)
        for key in draws[0]:
            values = np.array([d[key] for d in draws])
            metrics[key] = float(values.mean())
            if key.endswith("macro_f1"):
                metrics[f"{key}_std"] = float(values.std(ddof=1)) if len(values) > 1 else 0.0  # sample std over draws
    timings["few_label_seconds"] = time.perf_counter() - t

    # -- 4. supervised-contrastive and triplet fine-tuning ----------------------------------------------
    t = time.perf_counter()
    if cfg.finetune_steps:
        labelled = TabularAdapter(train_table, pre, corruption=cfg.corruption, mask_rate=cfg.mask_rate, noise_std=cfg.noise_std,
                                  labels=y_train, encoder=cfg.encoder, embed_dim=cfg.embed_dim)
        triplet_adapter = TabularAdapter(train_table, pre, corruption=cfg.corruption, labels=y_train, positive="same_label",
                                         encoder=cfg.encoder, embed_dim=cfg.embed_dim)
        runs = {
            "supcon": (labelled, build_objective("supcon", temperature=cfg.temperature), FalseNegativePolicy()),
            "triplet": (triplet_adapter, build_objective("triplet", margin=0.2, selection="batch_hard"), FalseNegativePolicy(same_label=True)),
        }
        for name, (run_adapter, objective, policy) in runs.items():
            tuned = copy.deepcopy(encoder).cpu()
            pretrain(run_adapter, contrastive_learner(tuned, objective, policy, cfg), out / f"finetune_{name}", cfg.finetune_steps, cfg)
            tuned = tuned.to(device)
            metrics.update(probe_scores(embed(tuned, train_table), y_train, embed(tuned, test_table), y_test, names,
                                        f"test_{name}", cfg.knn_k, cfg.seed, hard)[0])
    timings["finetune_seconds"] = time.perf_counter() - t

    # -- 5. anomaly detection without attack labels ------------------------------------------------
    t = time.perf_counter()
    normal_rows = y_train == 0
    is_attack = y_test > 0
    # test_anomaly_*: in the saved model's space (the fused [SSL, raw] rows with --probe-features concat), what a user's
    # index gives; beside it the SSL embedding alone and the raw features (squared L2, as security_anomaly's raw_knn)
    distances = {"pretrained_anomaly": knn_anomaly_scores(train_z[normal_rows], test_z, cfg.anomaly_k),
                 "raw_anomaly": knn_anomaly_scores(raw_train[normal_rows], raw_test, cfg.anomaly_k, space="l2")}
    saved_train, saved_test = (concat_train, concat_test) if cfg.probe_features == "concat" else (train_z, test_z)
    # beside it: the same in that space whitened by the covariance of every training row (labels hidden), a kNN
    # Mahalanobis-type distance; the whitening is saved so that a user can repeat it on model.encode(rows, normalize=False)
    whitening = fit_whitening(saved_train)
    whitening.save(out / "anomaly_whitening.npz")
    distances["whitened_anomaly"] = knn_anomaly_scores(whitening.apply(saved_train[normal_rows]).astype(np.float32),
                                                       whitening.apply(saved_test).astype(np.float32), cfg.anomaly_k)
    distances["anomaly"] = (distances["whitened_anomaly"] if cfg.anomaly_whitening
                            else knn_anomaly_scores(saved_train[normal_rows], saved_test, cfg.anomaly_k))
    for prefix, distance in distances.items():
        metrics.update(detection_scores(distance, is_attack, prefix=f"test_{prefix}"))
        if hard is not None and 0 < is_attack[hard].sum() < hard.sum():
            metrics.update(detection_scores(distance[hard], is_attack[hard], prefix=f"test_hard_{prefix}"))
    timings["anomaly_seconds"] = time.perf_counter() - t

    # -- 6. headline metrics --------------------------------------------------------------------------
    headline = "concat" if cfg.probe_features == "concat" else "pretrained"
    metrics["test_binary_macro_f1"] = metrics[f"test_{headline}_linear_binary_macro_f1"]
    metrics["test_category_macro_f1"] = metrics[f"test_{headline}_linear_category_macro_f1"]
    if hard is not None:
        metrics["test_hard_category_macro_f1"] = metrics[f"test_hard_{headline}_linear_category_macro_f1"]
    timings["wall_seconds"] = time.perf_counter() - start
    metrics.update(timings)
    metrics["pretrain_samples_per_second"] = float(summary.get("samples_per_second", float("nan")))
    text = report(metrics, cfg)
    if cfg.eval_split == "dev":  # the "test" figures are the dev split's: say so in every key
        metrics = {("dev_" + k[len("test_"):] if k.startswith("test_") else k): v for k, v in metrics.items()}
        text = "figures on the DEV split of --train-file (--eval-split dev)\n" + text
    atomic_write_json(out / "metrics.json", metrics)
    print(text)
    return metrics


def report(m: dict[str, float], cfg: Config) -> str:
    rows = [
        ["raw features (all labels)", m["test_raw_knn_category_macro_f1"], m["test_raw_linear_category_macro_f1"], m["test_raw_linear_binary_macro_f1"]],
        ["random-init encoder (all labels)", m["test_random_init_knn_category_macro_f1"], m["test_random_init_linear_category_macro_f1"], m["test_random_init_linear_binary_macro_f1"]],
        ["pre-trained (SSL) + probe (all labels)", m["test_pretrained_knn_category_macro_f1"], m["test_pretrained_linear_category_macro_f1"], m["test_pretrained_linear_binary_macro_f1"]],
        ["SSL embedding & raw (concat) + probe (all labels)", m["test_concat_knn_category_macro_f1"], m["test_concat_linear_category_macro_f1"], m["test_concat_linear_binary_macro_f1"]],
    ]
    def f1(key: str) -> str:
        std = m.get(f"{key}_std")
        return f"{m[key]:.2f} ± {std:.2f}" if std is not None and cfg.label_draws > 1 else f"{m[key]:.2f}"

    for fraction in cfg.label_fractions:
        tag = f"{100 * fraction:g}pct".replace(".", "_")
        n = int(m[f"labels_{tag}_count"])
        rows += [
            [f"{100 * fraction:g}% labels ({n}): pre-trained + probe", f1(f"test_{tag}_pretrained_knn_category_macro_f1"), f1(f"test_{tag}_pretrained_linear_category_macro_f1"), f1(f"test_{tag}_pretrained_linear_binary_macro_f1")],
            [f"{100 * fraction:g}% labels ({n}): supervised MLP", "-", f1(f"test_{tag}_supervised_mlp_category_macro_f1"), f1(f"test_{tag}_supervised_mlp_binary_macro_f1")],
            [f"{100 * fraction:g}% labels ({n}): raw kNN / logistic regression", f1(f"test_{tag}_raw_knn_category_macro_f1"), f1(f"test_{tag}_raw_linear_category_macro_f1"), f1(f"test_{tag}_raw_linear_binary_macro_f1")],
            [f"{100 * fraction:g}% labels ({n}): SSL & raw (concat) + probe", f1(f"test_{tag}_concat_knn_category_macro_f1"), f1(f"test_{tag}_concat_linear_category_macro_f1"), f1(f"test_{tag}_concat_linear_binary_macro_f1")],
        ]
    for name in ("supcon", "triplet"):
        if f"test_{name}_knn_category_macro_f1" in m:
            rows.append([f"{name} fine-tuned (all labels)", m[f"test_{name}_knn_category_macro_f1"], m[f"test_{name}_linear_category_macro_f1"], m[f"test_{name}_linear_binary_macro_f1"]])
    table = format_table(rows, ["encoder / regime", "kNN category macro-F1", "linear (or MLP) category macro-F1", "linear binary macro-F1"])
    space = "saved model's space, whitened" if cfg.anomaly_whitening else "saved model's space"
    anomaly = (f"anomaly detection (no attack labels, {cfg.anomaly_k}-NN distance to normal training rows): {space} "
               f"AUROC {m['test_anomaly_auroc']:.2f}, detection at 1% false alarms {m['test_anomaly_detection_at_1pct_fpr']:.2f} "
               f"(whitened: {m['test_whitened_anomaly_auroc']:.2f}, {m['test_whitened_anomaly_detection_at_1pct_fpr']:.2f}; "
               f"SSL embedding alone: {m['test_pretrained_anomaly_auroc']:.2f}, {m['test_pretrained_anomaly_detection_at_1pct_fpr']:.2f}; "
               f"raw features: {m['test_raw_anomaly_auroc']:.2f}, {m['test_raw_anomaly_detection_at_1pct_fpr']:.2f})")
    return f"{table}\n{anomaly}\nwall {m['wall_seconds']:.0f}s (pre-training {m['pretrain_seconds']:.0f}s); outputs in {cfg.out_dir}/"


def cli(argv: list[str] | None = None) -> dict[str, float]:
    return run_cli(main, Config, argv, __doc__.split("\n\n")[0])


if __name__ == "__main__":
    raise SystemExit(console_main(cli))
