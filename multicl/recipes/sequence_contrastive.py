"""Self-supervised embeddings of time series: UEA/UCR classification sets and continuous streams.
Defaults (method ts2vec, its sizes and steps) were chosen on dev splits only: a stratified 30% of
each *_TRAIN.ts of BasicMotions, GunPoint and PickupGestureWiimoteZ held out (split seeds 0 and 1),
never a *_TEST.ts; see docs/series.md and benchmarks/series_ts2vec.py.

    python -m multicl.recipes.sequence_contrastive                                  # BasicMotions (shared data)
    python -m multicl.recipes.sequence_contrastive --train-file GunPoint_TRAIN.ts --test-file GunPoint_TEST.ts
    python -m multicl.recipes.sequence_contrastive --train-file GunPoint_TRAIN.ts --dev-fraction 0.3 --compare   # choose settings
    python -m multicl.recipes.sequence_contrastive --train-file S06R02E0.csv --method infonce   # a stream, split in time

Series sets (``.ts``, ``.arff``, ``.tsv``: one labelled series per line), labels unused in pre-training:

* ``--method ts2vec`` (default; Yue et al. 2022): the TS2Vec encoder (input projection,
  timestamp masking p=0.5, 10 dilated residual blocks of width 64, 320-dim per-timestep output;
  the paper's sizes), trained for 200 steps of 8 series (AdamW 1e-3, constant, weight average
  evaluated) with the hierarchical contrastive loss on the overlap of two random overlapping
  crops (TS2Vec's crop rule: no crop parameter to choose). Instance embedding: max over time,
  saved standardised per coordinate; on series of several lengths a second TS2Vec trained on them
  resampled to the longest training length is joined to it (``--resampled-join``, chosen on 3
  variable-length dev sets; docs/series.md).
  Dev selection (mean dev SVM accuracy over the three sets x two splits): TS2Vec at the paper's
  sizes 90.0, the old InfoNCE default 86.4, TS2Vec small (32 x 6 -> 128) 85.6.
* ``--method infonce`` (the old default): InfoNCE on a TCN over views (random crops of
  ``crop_ratio`` with the positive's crop ``jitter`` steps away, noise, scaling, magnitude and
  time warping); its crop 0.9 / time warp 0.2 were chosen long ago on PickupGestureWiimoteZ's
  test split, so its test figures there are optimistic.
* ``--method dino`` / ``swav``: the TS2Vec encoder trained with DINO (EMA teacher seeing only the
  global crops; the teacher is saved) or SwAV on multi-crop views (``global_crops`` of
  ``global_share`` and ``local_crops`` of ``local_share`` of each series, with the views above),
  ``multi_crop_steps`` steps of ``multi_crop_batch_size`` series; compared on dev splits in
  benchmarks/series_multi_crop.py (docs/series.md).

Scores on the test series (or, with ``--dev-fraction``, on the held-out share of the training
file; the test file is then never read): kNN (cosine), linear (logistic regression) and
TS2Vec's RBF SVM (C by cross-validation on the training embeddings), against the raw series
(standardised, resampled to the longest training length): euclidean 1-NN / k-NN, logistic
regression, the same SVM and DTW 1-NN (band ``dtw_band``); and the encoder randomly initialised.
``--compare`` also pre-trains the other method.

``.csv`` streams (channels + optional per-step label column, e.g. ``is_anomaly``): clips of
``clip_length`` steps every ``stride`` (``ts2vec``: two overlapping crops of each clip; the rest of
this paragraph is ``infonce``'s); positives ``stream_jitter`` steps away; negatives of the
same stream inside +-``exclusion_window`` steps of the anchor are masked (false negatives). Without
``--test-file`` the stream is split in time (the last ``test_fraction``, after a gap of one
clip). Window label = majority of its steps. Scores: kNN / linear accuracy and AUROC (binary:
the positive class; more classes: macro one-vs-rest) of the probes' scores over test windows, and
a label-free kNN-distance anomaly AUROC. ``--window-ablation W1 W2 ...`` pre-trains again with
the window off and at each width and reports, per run, the share of in-batch negatives that are
false negatives (same stream, overlapping clip) before and after masking.

Writes ``metrics.json`` (``test_knn_accuracy``, ``test_linear_accuracy``, ``test_svm_accuracy`` (``dev_*`` with
``--dev-fraction``; per method ``test_ts2vec_*`` / ``test_infonce_*``), ``test_auroc``; null
where the test labels hold one class), ``config.json``, ``model/`` (``multicl.EmbeddingModel.load``).
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from multicl.data.series_files import Stream, read_stream_csv
from multicl.data.series_readers import SERIES_SET_READERS, default_test_path, read_series_set, series_set_format
from multicl.modalities.views_dataset import ViewsDataset
from multicl.eval.report import format_table
from multicl.eval.space_selection import CRITERIA, SpaceChoice, select_space
from multicl.modalities.batching import encode_in_length_order
from multicl.modalities.multi_crop import MultiCropDataset, MultiCropSpec
from multicl.modalities.sequence import SequenceAdapter, clip_starts
from multicl.negatives.masks import FalseNegativePolicy
from multicl.negatives.temporal import in_batch_window_stats
from multicl.objectives import build_objective
from multicl.errors import UserInputError
from multicl.recipes._cli import OVERWRITE_HELP, console_main, run_cli, start_run
from multicl.recipes._sequence_eval import embedding_scores, raw_series_knn, resample, stream_scores, window_labels
from multicl.recipes._series_space import candidate_rows, raw_rows, space_encoder
from multicl.train.config import TrainerConfig
from multicl.train.learner import ContrastiveLearner
from multicl.train.dino import DINOLearner
from multicl.train.methods import MULTI_CROP_METHODS, build_multi_crop_learner, mlp
from multicl.train.trainer import Trainer
from multicl.train.ts2vec import TS2VecLearner
from multicl.utils.io import atomic_write_json
from multicl.utils.paths import shared_data_dir
from multicl.views.series import SeriesViews
from multicl.encoders.series_resampled_join import SeriesResampledJoinEncoder
from multicl.encoders.ts2vec import TS2VecEncoder
from multicl.modalities.overlap_crops import OverlapCropDataset

logger = logging.getLogger("multicl.recipes.sequence_contrastive")
# --method -> the loss, as the report names it (every method but infonce trains the TS2Vec encoder)
METHOD_NAMES = {"ts2vec": "hierarchical loss", "infonce": "InfoNCE", "dino": "DINO (multi-crop)", "swav": "SwAV (multi-crop)"}
SHARED = shared_data_dir() / "timeseries"


@dataclass(frozen=True)
class Config:
    train_file: str = field(default=str(SHARED / "BasicMotions" / "BasicMotions_TRAIN.ts"), metadata={"help": "labelled series: .ts, .arff (UEA/UCR) or .tsv (UCR 2018), optionally .gz; or .csv (a stream)"})
    test_file: str | None = field(default=None, metadata={"help": "series set: the test series, any of the set formats (default: *_TEST.* beside *_TRAIN.*, the same format first); .csv: a later recording (default: split in time)"})
    out_dir: str = field(default="runs/sequence_contrastive", metadata={"help": "output folder"})
    overwrite: bool = field(default=False, metadata={"help": OVERWRITE_HELP})
    device: str = field(default="auto", metadata={"help": "auto | cpu | cuda"})
    seed: int = field(default=0, metadata={"help": "seed of everything"})
    precision: str = field(default="auto", metadata={"help": "auto | no | bf16 | fp16"})
    max_steps: int = field(default=400, metadata={"help": "infonce: pre-training steps"})
    batch_size: int = field(default=64, metadata={"help": "infonce: clips per step (capped at the number of training samples)"})
    learning_rate: float = field(default=1e-3, metadata={"help": "infonce, dino, swav: AdamW learning rate (peak of the cosine schedule)"})
    temperature: float = field(default=0.2, metadata={"help": "InfoNCE temperature"})
    encoder: str = field(default="tcn", metadata={"help": "infonce: tcn | transformer"})
    embed_dim: int = field(default=128, metadata={"help": "infonce: embedding size"})
    crop_ratio: float = field(default=0.9, metadata={"help": ".ts: share of a series each view covers"})
    jitter: tuple[int, ...] = field(default=(0, 8), metadata={"help": ".ts: min and max steps between the two crops' starts"})
    jitter_std: float = field(default=0.05, metadata={"help": "view noise (x channel std)"})
    scale_std: float = field(default=0.1, metadata={"help": "per-channel gain spread"})
    magnitude_warp_std: float = field(default=0.1, metadata={"help": "smooth gain-curve spread"})
    time_warp_std: float = field(default=0.2, metadata={"help": "smooth speed-curve spread"})
    channel_dropout: float = field(default=0.0, metadata={"help": "probability of blanking a channel"})
    clip_length: int = field(default=128, metadata={"help": ".csv: steps per window (Daphnet: 64 Hz, 2 s)"})
    stride: int = field(default=8, metadata={"help": ".csv: steps between training windows"})
    eval_stride: int = field(default=16, metadata={"help": ".csv: steps between evaluation windows"})
    stream_jitter: tuple[int, ...] = field(default=(4, 32), metadata={"help": ".csv: min and max steps between anchor and positive"})
    exclusion_window: int = field(default=128, metadata={"help": ".csv: mask same-stream negatives starting within +-W steps (-1: off)"})
    far_negatives: bool = field(default=False, metadata={"help": ".csv: add a clip of the same stream beyond the window as a hard negative"})
    test_fraction: float = field(default=0.3, metadata={"help": ".csv without --test-file: the last share of the stream is the test part"})
    label_column: str = field(default="auto", metadata={"help": ".csv: per-step label column (auto: is_anomaly / label)"})
    window_ablation: tuple[int, ...] = field(default=(), metadata={"help": ".csv: also pre-train with the window off and at each of these widths"})
    knn_k: int = field(default=5, metadata={"help": "neighbours of the kNN probe"})
    method: str = field(default="ts2vec", metadata={"help": "ts2vec (hierarchical loss on overlapping crops) | infonce (the old default: TCN on augmented views) | "
                                                     "dino | swav (the TS2Vec encoder on multi-crop views); ts2vec won on dev splits (30%% of each *_TRAIN.ts), "
                                                     "never tuned on *_TEST (docs/series.md)"})
    ts2vec_steps: int = field(default=200, metadata={"help": "ts2vec: pre-training steps (paper: 200 for small sets)"})
    ts2vec_batch_size: int = field(default=8, metadata={"help": "ts2vec: series per step (paper: 8)"})
    ts2vec_learning_rate: float = field(default=1e-3, metadata={"help": "ts2vec: AdamW learning rate, constant (paper: 1e-3)"})
    ts2vec_dims: int = field(default=320, metadata={"help": "ts2vec: representation size (paper: 320)"})
    ts2vec_hidden: int = field(default=64, metadata={"help": "ts2vec: width of the dilated blocks (paper: 64)"})
    ts2vec_depth: int = field(default=10, metadata={"help": "ts2vec: dilated blocks (paper: 10)"})
    ts2vec_mask_p: float = field(default=0.5, metadata={"help": "ts2vec: probability of masking a timestep's latent in training (paper: 0.5)"})
    ts2vec_weight_average: bool = field(default=True, metadata={"help": "ts2vec: evaluate the running average of the weights (paper: yes)"})
    multi_crop_steps: int = field(default=200, metadata={"help": "dino / swav: pre-training steps (AdamW --learning-rate, 5%% warm-up, cosine)"})
    multi_crop_batch_size: int = field(default=16, metadata={"help": "dino / swav: series per step, each cut into every crop (capped at the training series)"})
    global_crops: int = field(default=2, metadata={"help": "dino / swav: global crops per series (the DINO teacher sees only these)"})
    local_crops: int = field(default=2, metadata={"help": "dino / swav: local crops per series"})
    global_share: tuple[float, ...] = field(default=(0.6, 1.0), metadata={"help": "dino / swav: global crop length, LO HI shares of the series"})
    local_share: tuple[float, ...] = field(default=(0.2, 0.5), metadata={"help": "dino / swav: local crop length, LO HI shares of the series"})
    dino_out_dim: int = field(default=256, metadata={"help": "DINO's output size K (swav: the number of prototypes)"})
    dino_momentum: float = field(default=0.99, metadata={"help": "DINO teacher EMA momentum at the start (rises to 1 along a cosine)"})
    teacher_temperature: tuple[float, ...] = field(default=(0.04, 0.07), metadata={"help": "DINO teacher temperature warm-up START END"})
    dev_fraction: float = field(default=0.0, metadata={"help": ".ts: > 0: hold out this stratified share of the TRAINING file and score on it (the test file is not read); for choosing settings"})
    split_seed: int = field(default=0, metadata={"help": ".ts with --dev-fraction: seed of the dev split"})
    fuse_raw_weight: float = field(default=0.0, metadata={
        "help": ".ts, ts2vec: > 0 saves [z-scored TS2Vec embedding, this weight x the raw series resampled to the longest training "
                "series]; on 5 dev splits (30%% of TRAIN) 0.5 won kNN (85.7 vs 80.0) but lost SVM (87.4 vs 90.2) and linear, so the "
                "default is 0 (TS2Vec alone); use 0.5 for nearest-neighbour search (docs/series.md)"})
    select_space: str = field(default="off", metadata={
        "help": ".ts, ts2vec: choose the saved space on the training series and their labels: 'nn' (leave-one-out 1-NN + 5-NN "
                "accuracy) or 'all' (those + cross-validated linear and SVM accuracy) among TS2Vec as saved, z-scored, and joined with "
                "the raw series at weights 0.25 / 0.5 / 1 / 2; 'off' (default): the space of --ts2vec-standardise (or --fuse-raw-weight "
                "> 0, which overrides). On 7 dev sets x 3 splits (30%% of TRAIN) 'nn' gained +1.0 on 1-NN / 5-NN but lost 1.1 on the linear probe, "
                "so it is off (benchmarks/series_space_selection.py, docs/series.md)"})
    ts2vec_crops: str = field(default="per_series", metadata={
        "help": "ts2vec: 'per_series' (each series its own two overlapping crops) or 'per_batch' (TS2Vec's code: one crop "
                "geometry per batch, a random position per series)"})
    ts2vec_max_grad_norm: float = field(default=1.0, metadata={"help": "ts2vec: gradient clipping norm (<= 0: none, as TS2Vec's code)"})
    ts2vec_standardise: bool = field(default=True, metadata={
        "help": ".ts, ts2vec: save TS2Vec's embedding standardised per coordinate with the training series' mean / std "
                "(without --fuse-raw-weight / --select-space, which override). Chosen on 7 dev sets x 3 splits (30%% of TRAIN): "
                "1-NN / 5-NN +1.3, SVM +0.0, linear +0.0 over TS2Vec's own output (benchmarks/series_standardise.py, docs/series.md)"})
    resampled_join: bool = field(default=True, metadata={
        "help": ".ts, ts2vec, variable-length series (standardised space): also pre-train TS2Vec on every series linearly "
                "resampled to the longest training series and save [as is, resampled] joined (twice the training). Chosen on "
                "3 variable-length dev sets x 3 splits (30%% of TRAIN): 1-NN / 5-NN +1.45, SVM -0.19, linear +1.22 over the "
                "as-is model (benchmarks/series_resampled_join.py, docs/series.md); --no-resampled-join: the as-is model alone"})
    resampled_only: bool = field(default=False, metadata={
        "help": "with --resampled-join: save the resampled model's block alone (both are still trained and reported). For "
                "nearest-neighbour search on sets like PLAID: on the 3 variable-length dev sets x 3 splits 1-NN / 5-NN +2.9 over "
                "the join, SVM -0.2, linear -5.6, so not the default (benchmarks/results/series_join_weight, docs/series.md)"})
    resampled_join_weight: float = field(default=1.0, metadata={
        "help": "with --resampled-join: the weight w of the resampled block in the saved [as is, w x resampled] (the linear probe "
                "standardises its input, so w moves cosine neighbours, search and the SVM only). 1 kept on 3 variable-length dev "
                "sets x 3 splits (30%% of TRAIN): w 0.5-10 never gained > +1.0 on 1-NN / 5-NN (benchmarks/results/"
                "series_join_weight*, docs/series.md)"})
    dtw_band: float = field(default=0.1, metadata={"help": ".ts: Sakoe-Chiba band (share of the length) of the raw DTW 1-NN baseline; < 0: skip it"})
    dtw_max_cells: float = field(default=3e11, metadata={
        "help": "series set: skip the DTW baseline (and say so) when it would fill more band cells than this, about "
                "test x train x length x (2 x band x length + 1); 3e11 is ~15 min on one core of this project's CPU; < 0: no limit"})
    compare: bool = field(default=False, metadata={"help": ".ts: also pre-train the other method and report both"})


def default_test_file(cfg: Config) -> str:
    if cfg.test_file:
        return cfg.test_file
    beside = default_test_path(cfg.train_file)
    if beside is not None:
        return str(beside)
    raise UserInputError(f"--test-file is needed for {Path(cfg.train_file).name}: no *_TEST file beside it (a *_TRAIN.<ts|arff|tsv> "
                         "file's default is the *_TEST file next to it)")


def views_of(cfg: Config) -> SeriesViews:
    return SeriesViews(jitter_std=cfg.jitter_std, scale_std=cfg.scale_std, magnitude_warp_std=cfg.magnitude_warp_std,
                       time_warp_std=cfg.time_warp_std, channel_dropout=cfg.channel_dropout)


def pretrain(adapter: SequenceAdapter, policy: FalseNegativePolicy, out_dir: Path, cfg: Config) -> tuple[torch.nn.Module, dict[str, Any]]:
    torch.manual_seed(cfg.seed)
    encoder = adapter.build_encoder()
    learner = ContrastiveLearner(encoder, build_objective("info_nce", temperature=cfg.temperature), head=mlp(cfg.embed_dim, 256, 128), policy=policy)
    trainer_cfg = cosine_trainer_config(out_dir, cfg.max_steps, min(cfg.batch_size, len(adapter.samples)), cfg)
    summary = Trainer(learner, ViewsDataset(adapter.samples, adapter, seed=cfg.seed), adapter.collate, trainer_cfg).train()
    return encoder, summary


def cosine_trainer_config(out_dir: Path, steps: int, batch_size: int, cfg: Config) -> TrainerConfig:
    """infonce / dino / swav: AdamW at ``--learning-rate``, 5% warm-up, cosine decay, a checkpoint every tenth of the run."""
    return TrainerConfig(out_dir=str(out_dir), max_steps=steps, batch_size=batch_size, learning_rate=cfg.learning_rate, weight_decay=1e-4,
                         warmup_ratio=0.05, lr_schedule="cosine", seed=cfg.seed, device=cfg.device, precision=cfg.precision, log_every=20,
                         save_every=None, num_workers=0)


def build_ts2vec_encoder(adapter: SequenceAdapter, cfg: Config) -> TS2VecEncoder:
    return TS2VecEncoder(adapter.channels, cfg.ts2vec_dims, cfg.ts2vec_hidden, cfg.ts2vec_depth, mask_p=cfg.ts2vec_mask_p)


def saved_space(method: str, cfg: Config) -> str:
    """The space the recipe saves: for ts2vec ``fused`` (--fuse-raw-weight > 0), else ``selected`` (--select-space),
    else ``standardised`` (--ts2vec-standardise), else ``as_trained``; every other method ``as_trained``."""
    if method != "ts2vec":
        return "as_trained"
    return ("fused" if cfg.fuse_raw_weight > 0 else "selected" if cfg.select_space != "off"
            else "standardised" if cfg.ts2vec_standardise else "as_trained")


def choose_space(fit_embeddings: np.ndarray, adapter: SequenceAdapter, fit_series: list[np.ndarray], y_fit: np.ndarray,
                 criterion: str) -> SpaceChoice:
    """``--select-space``: every candidate of ``multicl.recipes._series_space`` scored on the training series alone
    (``fit_embeddings``: TS2Vec's own output for them) -> the choice, with every candidate's scores."""
    length = max(len(x) for x in fit_series)
    rows = candidate_rows(fit_embeddings, raw_rows(fit_series, adapter.center, adapter.scale, length), fit_embeddings.mean(0),
                          fit_embeddings.std(0))
    return select_space(rows, y_fit, criterion)


def space_module(space: str, encoder: TS2VecEncoder, fit_embeddings: np.ndarray, length: int, cfg: Config,
                 chosen: str | None = None) -> torch.nn.Module:
    """The module that encodes ``space`` (see :func:`saved_space`) around ``encoder``, its statistics fitted on
    ``fit_embeddings`` (TS2Vec's own output for the training series): fused ``[unit(z), w * unit(raw series of
    length steps)]`` (multicl/encoders/series_fusion.py), the ``chosen`` candidate of --select-space, or the
    standardised ``(ts2vec(x) - mu) / sigma``."""
    if space == "as_trained":
        return encoder
    if space == "selected":
        return space_encoder(chosen, encoder, length, fit_embeddings)
    from multicl.encoders.series_fusion import SeriesRawFusionEncoder

    weight, unit_rows = (cfg.fuse_raw_weight, True) if space == "fused" else (0.0, False)
    return SeriesRawFusionEncoder.wrap(encoder, max(2, length), weight, unit_rows=unit_rows).fit_statistics(fit_embeddings).eval()


def joins_resampled(method: str, space: str, fit_series: list[np.ndarray], cfg: Config) -> bool:
    """``--resampled-join`` applies: TS2Vec saved standardised, on training series of more than one length."""
    return cfg.resampled_join and method == "ts2vec" and space == "standardised" and len({len(x) for x in fit_series}) > 1


def join_blocks(cfg: Config) -> str:
    """Which blocks the saved join keeps: ``"resampled"`` with ``--resampled-only``, else ``"both"``."""
    return "resampled" if cfg.resampled_only else "both"


def resampled_twin(adapter: SequenceAdapter, fit_series: list[np.ndarray], length: int, cfg: Config) -> tuple[SequenceAdapter, list[np.ndarray]]:
    """The training series linearly resampled to ``length`` steps and their own adapter (its standardisation fitted on them)."""
    resampled = [resample(np.asarray(x, np.float64).reshape(len(x), -1), length).astype(np.float32) for x in fit_series]
    return SequenceAdapter(resampled, crop_ratio=cfg.crop_ratio, jitter=tuple(cfg.jitter), views=views_of(cfg), encoder=cfg.encoder,
                           embed_dim=cfg.embed_dim), resampled


def pretrain_ts2vec(adapter: SequenceAdapter, out_dir: Path, cfg: Config) -> tuple[torch.nn.Module, dict[str, Any]]:
    """TS2Vec: overlapping random crops, hierarchical loss, constant learning rate; -> (the averaged encoder, summary)."""
    torch.manual_seed(cfg.seed)
    learner = TS2VecLearner(build_ts2vec_encoder(adapter, cfg), average=cfg.ts2vec_weight_average)
    dataset = OverlapCropDataset(adapter, seed=cfg.seed, per_batch=cfg.ts2vec_crops == "per_batch")
    trainer_cfg = TrainerConfig(out_dir=str(out_dir), max_steps=cfg.ts2vec_steps, batch_size=min(cfg.ts2vec_batch_size, len(adapter.samples)),
                                learning_rate=cfg.ts2vec_learning_rate, weight_decay=0.01, warmup_ratio=0.0, lr_schedule="constant",
                                max_grad_norm=cfg.ts2vec_max_grad_norm if cfg.ts2vec_max_grad_norm > 0 else None,
                                seed=cfg.seed, device=cfg.device, precision=cfg.precision, log_every=20, save_every=None, num_workers=0)
    summary = Trainer(learner, dataset, dataset.collate, trainer_cfg).train()
    return learner.averaged_encoder(), summary


def crop_spec(cfg: Config) -> MultiCropSpec:
    """``--global-crops / --local-crops / --global-share / --local-share`` -> the multi-crop spec (raises on bad values)."""
    return MultiCropSpec(cfg.global_crops, (float(cfg.global_share[0]), float(cfg.global_share[-1])), cfg.local_crops,
                         (float(cfg.local_share[0]), float(cfg.local_share[-1])))


def pretrain_multi_crop(method: str, adapter: SequenceAdapter, out_dir: Path, cfg: Config) -> tuple[torch.nn.Module, dict[str, Any]]:
    """DINO or SwAV on multi-crop views of each series (the adapter's augmented crops), with the TS2Vec encoder
    (its instance embedding: the max over time) -> (DINO: the teacher encoder; SwAV: the encoder, summary)."""
    torch.manual_seed(cfg.seed)
    encoder = build_ts2vec_encoder(adapter, cfg)
    learner = build_multi_crop_learner(method, encoder, cfg.ts2vec_dims, cfg.dino_out_dim, cfg.dino_momentum,
                                       (float(cfg.teacher_temperature[0]), float(cfg.teacher_temperature[-1])),
                                       queue_length=min(1024, len(adapter.samples)))
    dataset = MultiCropDataset(adapter.samples, adapter, crop_spec(cfg), seed=cfg.seed)
    trainer_cfg = cosine_trainer_config(out_dir, cfg.multi_crop_steps, min(cfg.multi_crop_batch_size, len(adapter.samples)), cfg)
    summary = Trainer(learner, dataset, dataset.collate, trainer_cfg).train()
    return (learner.teacher_encoder if isinstance(learner, DINOLearner) else encoder), summary


def pretrain_method(method: str, adapter: SequenceAdapter, policy: FalseNegativePolicy, out_dir: Path, cfg: Config) -> tuple[torch.nn.Module, dict[str, Any]]:
    if method == "ts2vec":
        return pretrain_ts2vec(adapter, out_dir, cfg)
    if method in MULTI_CROP_METHODS:
        return pretrain_multi_crop(method, adapter, out_dir, cfg)
    return pretrain(adapter, policy, out_dir, cfg)


def fresh_encoder(method: str, adapter: SequenceAdapter, cfg: Config) -> torch.nn.Module:
    """The method's encoder, randomly initialised (seeded): the random-init row."""
    torch.manual_seed(cfg.seed)
    return adapter.build_encoder() if method == "infonce" else build_ts2vec_encoder(adapter, cfg)


def embed(encoder: torch.nn.Module, adapter: SequenceAdapter, clips: list[np.ndarray], device: str) -> np.ndarray:
    return encode_in_length_order(encoder.to(device), adapter.prepare_inputs, clips, adapter.length_of, batch_size=256, device=device)


def dev_split(series: list[np.ndarray], y: np.ndarray, fraction: float, seed: int) -> tuple[list, np.ndarray, list, np.ndarray]:
    """A stratified ``fraction`` of the training series held out as a dev set -> (fit series, y, dev series, y)."""
    from sklearn.model_selection import train_test_split

    index = np.arange(len(series))
    fit, dev = train_test_split(index, test_size=fraction, stratify=y, random_state=seed)
    return [series[i] for i in fit], y[fit], [series[i] for i in dev], y[dev]


def run_classification(cfg: Config, device: str, out: Path) -> dict[str, float]:
    train = read_series_set(cfg.train_file)
    names = train.class_names or sorted(set(train.labels or []))
    y_train = train.label_ids(names)
    if cfg.dev_fraction > 0:  # selection mode: the test file is never read
        split = "dev"
        fit_series, y_fit, eval_series, y_eval = dev_split(train.series, y_train, cfg.dev_fraction, cfg.split_seed)
    else:
        split = "test"
        test_file = default_test_file(cfg)
        test = read_series_set(test_file)
        try:
            y_test = test.label_ids(names)
        except ValueError as err:
            raise UserInputError(f"{test_file}: {err} (the classes of the training file {Path(cfg.train_file).name}); "
                                 "a probe can only predict classes it was trained on") from None
        fit_series, y_fit, eval_series, y_eval = train.series, y_train, test.series, y_test
    logger.info("[sequence_contrastive] %s: %d training / %d %s series, %d channels, lengths %d-%d, %d classes", train.name, len(fit_series),
                len(eval_series), split, train.channels, min(map(len, fit_series)), max(map(len, fit_series)), len(names))
    adapter = SequenceAdapter(fit_series, crop_ratio=cfg.crop_ratio, jitter=tuple(cfg.jitter), views=views_of(cfg), encoder=cfg.encoder,
                              embed_dim=cfg.embed_dim)
    metrics: dict[str, Any] = {"split": split, "method": cfg.method, "train_series": float(len(fit_series)), f"{split}_series": float(len(eval_series))}
    methods = [cfg.method] + ([m for m in ("ts2vec", "infonce") if m != cfg.method] if cfg.compare else [])
    for method in methods:
        t = time.perf_counter()
        encoder, summary = pretrain_method(method, adapter, FalseNegativePolicy(), out / ("pretrain" if method == cfg.method else f"pretrain_{method}"), cfg)
        metrics[f"{method}_pretrain_seconds"] = time.perf_counter() - t
        space, chosen, length = saved_space(method, cfg), None, max(len(x) for x in fit_series)
        if method == "ts2vec":
            metrics["saved_space"] = f"fused_w{cfg.fuse_raw_weight:g}" if space == "fused" else space
        if space != "as_trained":  # TS2Vec's own output stays in the metrics (``*_ts2vec_alone_*``)
            own_fit = embed(encoder, adapter, fit_series, device)
            metrics.update(embedding_scores(own_fit, y_fit, embed(encoder, adapter, eval_series, device), y_eval, cfg.knn_k, f"{split}_{method}_alone"))
            if space == "selected":
                choice = choose_space(own_fit, adapter, fit_series, y_fit, cfg.select_space)
                chosen = choice.name
                metrics |= {"space_chosen": choice.name, "space_criterion": choice.criterion, "space_selection": choice.scores}
                logger.info("[sequence_contrastive] embedding space chosen on the training series (%s): %s (%s)", choice.criterion, choice.name,
                            ", ".join(f"{k} {v['criterion']:.1f}" for k, v in choice.scores.items()))
            encoder = space_module(space, encoder, own_fit, length, cfg, chosen)
            if joins_resampled(method, space, fit_series, cfg):
                resampled_adapter, resampled_fit = resampled_twin(adapter, fit_series, length, cfg)
                t_join = time.perf_counter()
                twin, _ = pretrain_ts2vec(resampled_adapter, out / "pretrain_resampled", cfg)
                metrics["resampled_pretrain_seconds"] = time.perf_counter() - t_join
                metrics[f"{method}_pretrain_seconds"] += metrics["resampled_pretrain_seconds"]
                twin_space = space_module(space, twin, embed(twin, resampled_adapter, resampled_fit, device), length, cfg)
                metrics.update(embedding_scores(embed(encoder, adapter, fit_series, device), y_fit, embed(encoder, adapter, eval_series, device),
                                                y_eval, cfg.knn_k, f"{split}_{method}_as_is"))  # the as-is model alone
                encoder = SeriesResampledJoinEncoder.join(encoder, twin_space, length, adapter, resampled_adapter, join_blocks(cfg),
                                                          cfg.resampled_join_weight)
                metrics["saved_space"] = ("standardised, resampled only" if cfg.resampled_only
                                          else f"standardised, [as is, {cfg.resampled_join_weight:g} x resampled] joined")
        if method == cfg.method:
            save_encoder(encoder, out, adapter, cfg)
            metrics["pretrain_seconds"] = metrics[f"{method}_pretrain_seconds"]
            metrics["pretrain_samples_per_second"] = float(summary.get("samples_per_second", float("nan")))
        scores = embedding_scores(embed(encoder, adapter, fit_series, device), y_fit, embed(encoder, adapter, eval_series, device), y_eval,
                                  cfg.knn_k, f"{split}_{method}")
        random_init = fresh_encoder(method, adapter, cfg)
        if space != "as_trained":  # the same space around the untrained model
            random_init = space_module(space, random_init, embed(random_init, adapter, fit_series, device), length, cfg, chosen)
            if joins_resampled(method, space, fit_series, cfg):
                random_twin = fresh_encoder(method, resampled_adapter, cfg)
                random_twin = space_module(space, random_twin, embed(random_twin, resampled_adapter, resampled_fit, device), length, cfg)
                random_init = SeriesResampledJoinEncoder.join(random_init, random_twin, length, adapter, resampled_adapter,
                                                              join_blocks(cfg), cfg.resampled_join_weight)
        scores |= embedding_scores(embed(random_init, adapter, fit_series, device), y_fit, embed(random_init, adapter, eval_series, device),
                                   y_eval, cfg.knn_k, f"{split}_{method}_random_init")
        metrics.update(scores)
        if method == cfg.method:  # the recipe's own result, under the split's plain names
            metrics.update({split + k[len(f"{split}_{method}"):]: v for k, v in scores.items()})
    metrics.update(raw_series_knn(adapter, fit_series, y_fit, eval_series, y_eval, cfg.knn_k, prefix=split,
                                  dtw_band=cfg.dtw_band if cfg.dtw_band >= 0 else None,
                                  dtw_max_cells=cfg.dtw_max_cells if cfg.dtw_max_cells >= 0 else None))
    return metrics


def split_stream(cfg: Config) -> tuple[Stream, Stream]:
    label_column = cfg.label_column
    train = read_stream_csv(cfg.train_file, label_column=label_column)
    if cfg.test_file:
        return train, read_stream_csv(cfg.test_file, label_column=label_column)
    if not 0 < cfg.test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1), got {cfg.test_fraction}")
    cut = int(len(train.values) * (1 - cfg.test_fraction))
    gap = cfg.clip_length  # no window of the test part overlaps a training window

    def part(lo: int, hi: int) -> Stream:
        labels = None if train.labels is None else train.labels[lo:hi]
        return Stream(train.values[lo:hi], labels, train.channel_names, train.sample_rate, train.name)

    return part(0, cut), part(cut + gap, len(train.values))


def run_stream(cfg: Config, device: str, out: Path) -> dict[str, Any]:
    train, test = split_stream(cfg)
    logger.info("[sequence_contrastive] stream %s: %d training steps, %d test steps, %d channels, %s Hz", train.name, len(train.values),
                len(test.values), train.values.shape[1], f"{train.sample_rate:.1f}" if train.sample_rate else "unknown")
    adapter = SequenceAdapter([train.values], clip_length=cfg.clip_length, stride=cfg.stride, jitter=tuple(cfg.stream_jitter),
                              views=views_of(cfg), far_negative_distance=cfg.exclusion_window if cfg.far_negatives else None,
                              sample_rate=train.sample_rate, encoder=cfg.encoder, embed_dim=cfg.embed_dim)
    train_starts = clip_starts(len(train.values), cfg.clip_length, cfg.eval_stride)
    test_starts = clip_starts(len(test.values), cfg.clip_length, cfg.eval_stride)
    if not test_starts:
        raise ValueError(f"the test part has {len(test.values)} steps, fewer than one window of {cfg.clip_length}")
    train_clips = [train.values[s : s + cfg.clip_length] for s in train_starts]
    test_clips = [test.values[s : s + cfg.clip_length] for s in test_starts]
    y_train = window_labels(train.labels, train_starts, cfg.clip_length)
    y_test = window_labels(test.labels, test_starts, cfg.clip_length)
    metrics: dict[str, Any] = {"train_windows": float(len(train_clips)), "test_windows": float(len(test_clips)),
                               "training_clips": float(len(adapter.samples))}
    views = ViewsDataset(adapter.samples, adapter, seed=cfg.seed)  # the positives' own (jittered) starts count

    def window_stats(window: int, name: str) -> dict[str, Any]:
        stats = in_batch_window_stats(views, cfg.batch_size, window_policy(window), overlap=cfg.clip_length, seed=cfg.seed)
        return {f"{name}_{k}": v for k, v in stats.items()}

    def one_run(window: int, name: str) -> dict[str, Any]:
        result = window_stats(window, name)
        t = time.perf_counter()
        encoder, _ = pretrain_method(cfg.method, adapter, window_policy(window), out / name, cfg)
        result[f"{name}_seconds"] = time.perf_counter() - t
        scores = stream_scores(embed(encoder, adapter, train_clips, device), y_train, embed(encoder, adapter, test_clips, device), y_test, cfg.knn_k)
        result.update({f"{name}_{k}": v for k, v in scores.items()})
        return result | {"_encoder": encoder}

    main_run = one_run(cfg.exclusion_window, "pretrain")
    save_encoder(main_run.pop("_encoder"), out, adapter, cfg)
    metrics.update(main_run)
    for key in ("knn_accuracy", "linear_accuracy", "auroc", "auroc_note", "knn_auroc", "linear_auroc", "distance_auroc"):
        if f"pretrain_{key}" in main_run:
            metrics[f"test_{key}"] = main_run[f"pretrain_{key}"]
    random_init = fresh_encoder(cfg.method, adapter, cfg)
    metrics.update({f"test_random_init_{k}": v for k, v in stream_scores(embed(random_init, adapter, train_clips, device), y_train,
                                                                         embed(random_init, adapter, test_clips, device), y_test, cfg.knn_k).items()})
    flat = lambda clips: adapter.prepare_inputs(clips)["values"].reshape(len(clips), -1).numpy()  # noqa: E731
    metrics.update({f"test_raw_{k}": v for k, v in stream_scores(flat(train_clips), y_train, flat(test_clips), y_test, cfg.knn_k).items()})
    if cfg.window_ablation:
        for window in dict.fromkeys((-1, *cfg.window_ablation)):
            name = "window_off" if window < 0 else f"window_{window}"
            if window == cfg.exclusion_window:  # the main run already is this one
                metrics.update({name + k[len("pretrain"):]: v for k, v in main_run.items() if k.startswith("pretrain_")})
                continue
            if "pretrain_knn_accuracy" not in main_run:  # no labelled downstream task: the statistics need no training
                metrics.update(window_stats(window, name))
                continue
            run = one_run(window, name)
            run.pop("_encoder")
            metrics.update(run)
    return metrics


def window_policy(window: int) -> FalseNegativePolicy:
    """W >= 0: same-stream negatives starting within +-W steps are masked; W < 0: the window is off."""
    return FalseNegativePolicy(same_group=window >= 0, temporal_window=float(window) if window >= 0 else None)


def save_encoder(encoder: torch.nn.Module, out: Path, adapter: SequenceAdapter, cfg: Config) -> None:
    """One model folder (encoder + channels / normalisation + card), swapped in atomically."""
    import dataclasses

    from multicl.api import EmbeddingModel
    from multicl.models.card import ModelCard
    from multicl.train.run_identity import config_fingerprint

    EmbeddingModel.from_adapter(adapter, encoder).save(out / "model", card=ModelCard.from_run(
        "sequence_contrastive", dataclasses.asdict(cfg), config_fingerprint(cfg)))


def check_args(cfg: Config) -> None:
    """This recipe's own argument rules, checked before any file is read."""
    suffixes = Path(cfg.train_file).suffixes
    if series_set_format(cfg.train_file) is None and ".csv" not in suffixes:
        raise UserInputError(f"--train-file {cfg.train_file}: must be a labelled series set ({', '.join(SERIES_SET_READERS)}) or a .csv stream")
    if cfg.test_file and series_set_format(cfg.train_file) and series_set_format(cfg.test_file) is None:
        raise UserInputError(f"--test-file {cfg.test_file}: the training file is a series set, so the test file must be one too ({', '.join(SERIES_SET_READERS)})")
    if not cfg.test_file and ".csv" in suffixes and not 0 < cfg.test_fraction < 1:
        raise UserInputError(f"--test-fraction {cfg.test_fraction}: the last share of the stream kept for testing, in (0, 1), e.g. 0.3")
    if not 0 < cfg.crop_ratio <= 1:
        raise UserInputError(f"--crop-ratio {cfg.crop_ratio}: the share of a series each view covers, in (0, 1]")
    if not 0 <= cfg.channel_dropout < 1:
        raise UserInputError(f"--channel-dropout {cfg.channel_dropout}: a probability in [0, 1)")
    if cfg.method not in METHOD_NAMES:
        raise UserInputError(f"--method {cfg.method}: one of {', '.join(METHOD_NAMES)}")
    if cfg.method in MULTI_CROP_METHODS:
        try:
            crop_spec(cfg)
        except ValueError as err:
            raise UserInputError(f"multi-crop flags: {err}") from None
    if cfg.window_ablation and cfg.method != "infonce":
        raise UserInputError("--window-ablation masks InfoNCE's in-batch negatives; TS2Vec has no such window: add --method infonce")
    if not 0 <= cfg.dev_fraction < 1:
        raise UserInputError(f"--dev-fraction {cfg.dev_fraction}: the share of the training file held out for scoring, in [0, 1), e.g. 0.3")
    if cfg.dev_fraction and cfg.test_file:
        raise UserInputError("--dev-fraction scores on part of the training file: drop --test-file")
    if not 0 <= cfg.ts2vec_mask_p < 1:
        raise UserInputError(f"--ts2vec-mask-p {cfg.ts2vec_mask_p}: a probability in [0, 1)")
    if cfg.fuse_raw_weight < 0:
        raise UserInputError(f"--fuse-raw-weight {cfg.fuse_raw_weight}: the raw block's weight, >= 0 (0: TS2Vec alone)")
    if cfg.ts2vec_crops not in ("per_series", "per_batch"):
        raise UserInputError(f"--ts2vec-crops {cfg.ts2vec_crops}: one of per_series, per_batch")
    if not cfg.resampled_join_weight > 0:
        raise UserInputError(f"--resampled-join-weight {cfg.resampled_join_weight}: the resampled block's weight in the join, > 0")
    if cfg.resampled_only and not cfg.resampled_join:
        raise UserInputError("--resampled-only keeps one block of the join: drop --no-resampled-join")
    if cfg.select_space not in ("off", *CRITERIA):
        raise UserInputError(f"--select-space {cfg.select_space}: one of off, {', '.join(CRITERIA)}")


def main(cfg: Config) -> dict[str, Any]:
    start = time.perf_counter()
    out, device = start_run(cfg)
    if series_set_format(cfg.train_file) is not None:
        metrics = run_classification(cfg, device, out)
    elif ".csv" in Path(cfg.train_file).suffixes:
        metrics = run_stream(cfg, device, out)
    else:
        raise UserInputError(f"--train-file must be a labelled series set ({', '.join(SERIES_SET_READERS)}) or a .csv stream, got {cfg.train_file}")
    metrics["wall_seconds"] = time.perf_counter() - start
    atomic_write_json(out / "metrics.json", metrics)
    print(report(metrics, cfg))
    return metrics


def _fmt(value: Any) -> str:
    return "-" if value is None else f"{value:.1f}"




def dtw_row_name(m: dict[str, Any], r: str, cfg: Config) -> str:
    if cfg.dtw_band < 0:
        return "raw series, DTW 1-NN (off: --dtw-band < 0)"
    if f"{r}_dtw_skipped_cells" in m:
        return f"raw series, DTW 1-NN (skipped: {m[f'{r}_dtw_skipped_cells']:.2g} band cells > --dtw-max-cells {cfg.dtw_max_cells:.2g})"
    return f"raw series, DTW 1-NN (band {cfg.dtw_band:g})"


def report(m: dict[str, Any], cfg: Config) -> str:
    split = m.get("split", "test")
    if f"{split}_raw_1nn_accuracy" in m:
        r = f"{split}_raw"
        rows = [["raw series (euclidean)", _fmt(m[f"{r}_1nn_accuracy"]), _fmt(m[f"{r}_knn_accuracy"]), _fmt(m[f"{r}_linear_accuracy"]),
                 _fmt(m[f"{r}_svm_accuracy"])],
                [dtw_row_name(m, r, cfg), _fmt(m.get(f"{r}_dtw_1nn_accuracy")), "-", "-", "-"]]
        for method in [x for x in METHOD_NAMES if f"{split}_{x}_knn_accuracy" in m]:
            name = f"{cfg.encoder} + InfoNCE" if method == "infonce" else f"TS2Vec encoder + {METHOD_NAMES[method]}"
            other_space = f"{split}_{method}_alone_knn_accuracy" in m  # the saved space is not TS2Vec's own output
            joined = f"{split}_{method}_as_is_knn_accuracy" in m  # --resampled-join: two models, one saved space
            space = (f", space '{m['space_chosen']}' (chosen on the training series, '{m['space_criterion']}')" if "space_chosen" in m and method == "ts2vec"
                     else ", standardised, resampled series only" if joined and cfg.resampled_only
                     else f", standardised, [series as they are, {cfg.resampled_join_weight:g} x resampled] joined" if joined
                     else f", fused with the raw series (weight {cfg.fuse_raw_weight:g})" if other_space and cfg.fuse_raw_weight > 0
                     else ", standardised per coordinate" if other_space else "")
            runs = (("random init" + (", the same space" if other_space else ""), f"{split}_{method}_random_init"),
                    *((("pre-trained, no labels, TS2Vec's own output", f"{split}_{method}_alone"),) if other_space else ()),
                    *((("pre-trained, no labels, standardised, series as they are", f"{split}_{method}_as_is"),) if joined else ()),
                    ("pre-trained, no labels" + space, f"{split}_{method}"))
            for label, p in runs:
                rows.append([f"{name}, {label}" + (" (saved)" if method == cfg.method and p == f"{split}_{method}" else ""),
                             _fmt(m.get(f"{p}_1nn_accuracy")), _fmt(m[f"{p}_knn_accuracy"]), _fmt(m[f"{p}_linear_accuracy"]),
                             _fmt(m[f"{p}_svm_accuracy"])])
        table = format_table(rows, ["encoder", "1-NN acc", f"kNN acc (k={cfg.knn_k})", "linear acc", "SVM acc"]) + f"\n({split} split)"
    else:
        enc = cfg.encoder if cfg.method == "infonce" else f"TS2Vec encoder ({cfg.method})"
        rows = [[name, _fmt(m.get(f"{p}_knn_accuracy")), _fmt(m.get(f"{p}_linear_accuracy")), _fmt(m.get(f"{p}_knn_auroc")),
                 _fmt(m.get(f"{p}_linear_auroc")), _fmt(m.get(f"{p}_distance_auroc"))]
                for name, p in (("raw windows", "test_raw"), (f"{enc}, random init", "test_random_init"), (f"{enc}, contrastive (ours)", "test"))]
        table = format_table(rows, ["encoder", "kNN acc", "linear acc", "kNN AUROC", "linear AUROC", "kNN-distance AUROC"])
        if m.get("test_auroc") is None:
            table += f"\nAUROC undefined: {m.get('test_auroc_note', 'the test windows hold one class')}"
        ablation = sorted({k[: -len('_false_negative_share_before')] for k in m if k.startswith("window_") and k.endswith("_false_negative_share_before")},
                          key=lambda k: -1 if k == "window_off" else int(k.split("_")[1]))
        if ablation:
            rows = [[k.replace("window_", "W="), _fmt(m[f"{k}_false_negative_share_before"]), _fmt(m[f"{k}_false_negative_share_after"]),
                     _fmt(m[f"{k}_removed_per_anchor"]), _fmt(m[f"{k}_negatives_per_anchor_after"]), _fmt(m.get(f"{k}_knn_accuracy")),
                     _fmt(m.get(f"{k}_linear_accuracy")), _fmt(m.get(f"{k}_auroc"))] for k in ablation]
            table += "\n" + format_table(rows, ["exclusion window", "FN share before %", "FN share after %", "removed / anchor",
                                               "negatives / anchor", "kNN acc", "linear acc", "AUROC"])
    return f"{table}\nwall {m['wall_seconds']:.0f}s (pre-training {m['pretrain_seconds']:.0f}s); outputs in {cfg.out_dir}/"


def cli(argv: list[str] | None = None) -> dict[str, Any]:
    return run_cli(main, Config, argv, __doc__.split("\n\n")[0], check=check_args)  # the first paragraph: what, and which split chose the defaults


if __name__ == "__main__":
    raise SystemExit(console_main(cli))
