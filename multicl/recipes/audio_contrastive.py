"""Self-supervised audio embeddings from clips, scored by kNN / linear probes on held-out clips.

    python -m multicl.recipes.audio_contrastive --data-dir fsdd/recordings            # takes 5-49 train, 0-4 test
    python -m multicl.recipes.audio_contrastive --data-dir fsdd/recordings --test-speaker george   # leave one speaker out
    python -m multicl.recipes.audio_contrastive --data-dir train_wavs/ --test-dir test_wavs/
    python -m multicl.recipes.audio_contrastive --data-dir classes/        # classes/<class>/*.wav: seeded 80/20 split per class
    python -m multicl.recipes.audio_contrastive --data-dir any_wavs/        # no labels: pre-training only, saves model/
    python -m multicl.recipes.audio_contrastive --data-dir classes/ --pretrain-dir unlabelled_wavs/

``--data-dir``: any folder of audio files or a CSV of ``path,label[,group]``. Labels: files
named ``{label}_{speaker}_{take}.wav`` (Free Spoken Digit Dataset naming) carry theirs; other
files take their parent folder's name (``root/<class>/*.wav``); files directly in the folder
are unlabelled (pre-training only). Test split (``--split auto``): ``--test-dir``, else
``--test-speaker``, else by take for FSDD names, else a seeded per-class split
(``--test-fraction``), else (no labels at all) pre-training only: the model is saved, the
probes are skipped. ``--pretrain-dir`` adds unlabelled clips to pre-training only.

Pipeline: 1. self-supervised pre-training (``--method``: ``vicreg`` (default) or ``barlow_twins`` on two
views; ``infonce``, SimCLR-style on two views; ``dino``, self-distillation on multi-crop, the teacher
seeing only the global crops; ``swav``)
on the training clips with waveform views (speed perturbation, random crop, shift, gain, noise
at an SNR) and, in the encoder's log-mel frontend, per-utterance CMVN, a mel-axis warp and
SpecAugment, labels unused; 2. kNN (cosine) and linear-probe label accuracy on the test clips
(DINO: the student and the teacher encoder both, ``--keep`` names the saved one); baselines
(cheap, always on): log-mel statistics (per-band mean and std, and the same after the encoder's
CMVN) + logistic regression / kNN, the same CNN randomly initialised; 3. with
``--baselines-full`` (or ``--supervised-steps N``): the same CNN trained supervised
(cross-entropy, same views) and a supervised-contrastive variant (SupCon); 4. with
``--ablations`` / ``--baselines-full``: pre-training again without SpecAugment, without crop,
without noise (and, when on, without CMVN, without the speed / mel-warp views).
Defaults (issue 18), chosen on dev splits only: FSDD inner leave-one-speaker-out inside two outer
folds (outer test speaker george dropped, dev speaker jackson; theo dropped, dev nicolas), 150 steps,
seed 0. InfoNCE beat DINO and SwAV there (kNN 42.7 vs 29.1 / 31.6, linear 49.7 vs 42.8 / 38.9), so
``--method infonce`` stayed the default then; the DINO settings (K 256, momentum 0.99, 2 local crops,
``--keep teacher``: student and teacher tied on dev) are the dev-run ones. At 400 steps (2026-12-02)
VICReg beat InfoNCE on the fusion's three dev folds (criterion 72.6 vs 71.4, CNN alone 64.6 vs 63.3;
Barlow Twins 72.0, SwAV 65.3; benchmarks/results/audio_fusion_twoview/RULE.md): ``--method vicreg``.
``--max-steps 400`` and the slow rows being off are the 10-minute budget, not a dev choice.
The saved model joins the CNN embedding with the clip's log-mel statistics (``--fuse-stats plain``:
``[unit(cnn), w * unit(z-scored per-band mean/std)]``, multicl/encoders/audio_fusion.py), chosen on dev
folds at 400 steps (two inner speaker folds and a takes dev split: takes 0-4 dropped, train on 10-49,
score 5-9): mean (kNN + linear) / 2 of 71.4 vs 63.3 for the CNN alone and 61.5 for the statistics alone
(the dev stage of benchmarks/audio_fusion.py). ``--fuse-weight 0.25`` (was 1) was chosen on a nested dev
stage where every speaker is scored (10 runs, each leaving a pair of speakers out and scoring both on
probes trained on the other three, + the takes dev split; benchmarks/results/audio_fusion_nested_rerun/, the
single-thread re-run): criterion 72.8 vs 69.2 at weight 1; the weight changes only kNN (the linear probe standardises), unseen-speaker
kNN 41.4 -> 52.6 over the 20 inner folds. ``metrics.json`` has the CNN alone as ``test_cnn_*``;
``--fuse-stats none`` saves the CNN alone.
Details: docs/audio.md, benchmarks/results/audio_fsdd_dino/.
Writes ``metrics.json`` (``test_knn_accuracy``, ``test_linear_accuracy`` and every row),
``config.json`` and ``model/`` (``multicl.EmbeddingModel.load``).
"""
from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from multicl.data.audio_files import AudioClips, read_clips
from multicl.eval.probe import probe_accuracies
from multicl.eval.report import format_table
from multicl.modalities.audio import AudioAdapter, WaveViews, encode_waveforms
from multicl.errors import UserInputError
from multicl.recipes._cli import OVERWRITE_HELP, console_main, check_batch_fits, run_cli, start_run
from multicl.train.classifier import predict, train_classifier
from multicl.modalities.multi_crop import MultiCropSpec
from multicl.recipes.audio_pretrain import AUDIO_METHODS, KEEP, Pretrained, PretrainSpec, pretrain, trainer_config
from multicl.utils.io import atomic_write_json
from multicl.utils.paths import shared_data_dir

logger = logging.getLogger("multicl.recipes.audio_contrastive")
SHARED = shared_data_dir() / "audio" / "fsdd" / "recordings"


@dataclass(frozen=True)
class Config:
    data_dir: str = field(default=str(SHARED), metadata={"help": "folder of {label}_{speaker}_{take}.wav files, or a csv of path,label[,group]"})
    test_dir: str | None = field(default=None, metadata={"help": "separate test clips; else split --data-dir by take or speaker"})
    test_takes: int = field(default=5, metadata={"help": "without --test-dir/--test-speaker: takes 0..N-1 are the test split"})
    test_speaker: str | None = field(default=None, metadata={"help": "leave this speaker out for testing (unseen speaker)"})
    split: str = field(default="auto", metadata={
        "help": "without --test-dir/--test-speaker: auto (FSDD names: by take; class folders or a csv: random per class; "
                "no labels: none), take, random (seeded per-class --test-fraction), none (pre-training only, no probes)",
        "choices": ("auto", "take", "random", "none")})
    test_fraction: float = field(default=0.2, metadata={"help": "--split random: share of each class's clips held out for testing"})
    pretrain_dir: str | None = field(default=None, metadata={"help": "more clips for pre-training only (any folder of audio files or a csv; labels unused)"})
    out_dir: str = field(default="runs/audio_contrastive", metadata={"help": "output folder"})
    overwrite: bool = field(default=False, metadata={"help": OVERWRITE_HELP})
    device: str = field(default="auto", metadata={"help": "auto | cpu | cuda"})
    seed: int = field(default=0, metadata={"help": "seed of everything"})
    precision: str = field(default="auto", metadata={"help": "auto | no | bf16 | fp16 (bf16 autocast halves CNN time on CPUs with AMX)"})
    sample_rate: int = field(default=8000, metadata={"help": "clips are resampled to this rate"})
    method: str = field(default="vicreg", metadata={"help": "self-supervised method: vicreg (two views; the default: it won on the dev folds "
                                                     "over infonce, barlow_twins and swav, docs/audio.md) | infonce (SimCLR-style, two views; the default "
                                                     "before) | barlow_twins (two views) | dino (self-distillation on multi-crop) | swav (online clustering "
                                                     "on multi-crop)",
                                                     "choices": AUDIO_METHODS})
    max_steps: int = field(default=400, metadata={"help": "self-supervised pre-training steps (400: the default run fits 10 minutes on 2 CPU cores)"})
    batch_size: int = field(default=128, metadata={"help": "clips per step"})
    learning_rate: float = field(default=2e-3, metadata={"help": "AdamW learning rate"})
    temperature: float = field(default=0.1, metadata={"help": "InfoNCE / SupCon temperature"})
    crop_seconds: float = field(default=0.6, metadata={"help": "random crop / pad length of a view (0: whole clip); FSDD clips: mean 0.45 s, 95 percent under 0.68 s"})
    noise_snr_db: tuple[float, ...] = field(default=(10.0, 30.0), metadata={"help": "white-noise SNR range of the views (empty: off)"})
    specaugment: tuple[int, ...] = field(default=(8, 10), metadata={"help": "frequency and time mask widths (0 0: off)"})
    # speaker invariance (issue 6): FSDD leave-one-speaker-out, 5 folds, 500 steps: SSL kNN
    # 45.6 ± 14.8 -> 54.5 ± 8.7 with these three on (log-mel mean/std kNN 37.9 ± 9.2); the gain
    # is in theo / george, nicolas lost 14 points; see benchmarks/results/audio_fsdd/
    speed: tuple[float, ...] = field(default=(0.8, 1.25), metadata={"help": "speed-perturbation factor range of the views (pitch and tempo; empty: off)"})
    mel_warp: float = field(default=0.15, metadata={"help": "training-time mel-axis warp: factors in [1-x, 1+x] (0: off; a vocal-tract-length perturbation)"})
    cmvn: str = field(default="mean", metadata={"help": "per-utterance log-mel normalisation per band: none | mean | meanvar",
                                                  "choices": ("none", "mean", "meanvar")})
    global_crops: int = field(default=2, metadata={"help": "dino / swav: global crops per clip (the DINO teacher sees only these)"})
    local_crops: int = field(default=2, metadata={"help": "dino / swav: local crops per clip"})
    global_share: tuple[float, ...] = field(default=(0.6, 1.0), metadata={"help": "dino / swav: global crop window, LO HI shares of --crop-seconds"})
    local_share: tuple[float, ...] = field(default=(0.2, 0.5), metadata={"help": "dino / swav: local crop window, LO HI shares of --crop-seconds"})
    dino_out_dim: int = field(default=256, metadata={"help": "DINO's output size K (swav: the number of prototypes)"})
    dino_momentum: float = field(default=0.99, metadata={"help": "DINO teacher EMA momentum at the start (rises to 1 along a cosine)"})
    teacher_temperature: tuple[float, ...] = field(default=(0.04, 0.07), metadata={"help": "DINO teacher temperature START END (linear warm-up over 30%% of the run)"})
    keep: str = field(default="teacher", metadata={"help": "DINO: the encoder saved in model/ and reported as the main row (both are probed)",
                                                    "choices": KEEP})
    drop_speakers: tuple[str, ...] = field(default=(), metadata={"help": "leave these speakers (groups) out of everything (a dev protocol: drop the outer "
                                                                         "test speaker, then --test-speaker picks the dev speaker)"})
    embed_dim: int = field(default=128, metadata={"help": "the CNN's embedding size (with --fuse-stats the saved model adds 2 x 40 statistics)"})
    channels: tuple[int, ...] = field(default=(16, 32, 64, 64), metadata={"help": "CNN widths"})
    supervised_steps: int = field(default=0, metadata={"help": "steps of the supervised-CNN baseline and of SupCon (0 skips; --baselines-full: --max-steps)"})
    ablations: bool = field(default=False, metadata={"help": "also pre-train without SpecAugment, crop, noise (and CMVN, speed/warp when on)"})
    baselines_full: bool = field(default=False, metadata={"help": "also the slow rows: supervised cross-entropy CNN and SupCon (--max-steps steps "
                                                                  "unless --supervised-steps) and the view ablations"})
    knn_k: int = field(default=5, metadata={"help": "neighbours of the kNN probe"})
    # fusion chosen on the dev folds (the dev stage of benchmarks/audio_fusion.py: 2 inner speaker folds + a takes dev split,
    # 400 steps): mean (kNN + linear) / 2 of 71.4 for plain statistics vs 63.3 for the CNN alone and 61.5 for the statistics;
    # the weight on the nested dev stage (20 inner speaker folds + takes-dev): 72.8 at 0.25 vs 69.2 at 1.0 (single-thread re-run)
    fuse_stats: str = field(default="plain", metadata={
        "help": "join the CNN embedding with the clip's log-mel statistics (z-scored on the training clips) in the saved model: "
                "none | plain (per-band mean/std) | cmvn (after per-utterance mean removal); plain won on the dev folds "
                "(2 inner speaker folds + a takes dev split, docs/audio.md)",
        "choices": ("none", "plain", "cmvn")})
    fuse_weight: float = field(default=0.25, metadata={"help": "--fuse-stats: scale w of the statistics block (cosine = (cos_cnn + w^2 cos_stats) / (1 + w^2); "
                                                               "the linear probe standardises, so w changes kNN only); 0.25 was chosen on the nested dev "
                                                               "stage, every speaker scored (benchmarks/results/audio_fusion_nested_rerun/; 1.0 before)"})
    fuse_whiten: float = field(default=0.25, metadata={"help": "--fuse-stats: whiten the saved joined space with a Ledoit-Wolf covariance of the "
                                                               "pre-training clips, (v - m) C^-p: p = 0 off, 0.25 half, 0.5 full; 0.25 was chosen on the "
                                                               "nested dev stage (benchmarks/results/audio_whitening/; 0 before)"})


def check_args(cfg: Config) -> None:
    """The audio recipe's own argument rules, before any clip is read."""
    if not 0 < cfg.test_fraction < 1:
        raise UserInputError(f"--test-fraction {cfg.test_fraction}: the share of each class held out for testing, in (0, 1) "
                             f"(e.g. --test-fraction 0.2)")
    if cfg.pretrain_dir and not Path(cfg.pretrain_dir).expanduser().exists():
        raise UserInputError(f"--pretrain-dir {cfg.pretrain_dir}: no such file or folder (from {Path.cwd()}); check the path")
    for name in ("global_share", "local_share", "teacher_temperature"):
        if len(getattr(cfg, name)) != 2:
            raise UserInputError(f"--{name.replace('_', '-')} takes two numbers LO HI, got {list(getattr(cfg, name))}")
    try:
        pretrain_spec(cfg)
    except ValueError as error:
        raise UserInputError(f"multi-crop / DINO settings: {error}") from None
    if cfg.test_speaker and cfg.test_speaker in cfg.drop_speakers:
        raise UserInputError(f"--test-speaker {cfg.test_speaker} is also in --drop-speakers")
    if not 0 <= cfg.fuse_whiten <= 0.5:
        raise UserInputError(f"--fuse-whiten {cfg.fuse_whiten}: the whitening power, in [0, 0.5] (0 off, 0.25 half, 0.5 full)")
    if cfg.split == "take" and (cfg.test_dir or cfg.test_speaker):
        raise UserInputError("--split take splits --data-dir by take; drop it with --test-dir / --test-speaker")


def load_data(cfg: Config) -> tuple[AudioClips, AudioClips | None, AudioClips]:
    """``(probe training clips, test clips, pre-training clips)``; test is None when there is
    nothing to probe (``--split none``, or no labels: pre-training only). Pre-training sees the
    training clips, the unlabelled clips of ``--data-dir`` and ``--pretrain-dir`` (never the test clips)."""
    clips = read_clips(cfg.data_dir, cfg.sample_rate)
    if cfg.drop_speakers:
        missing = set(cfg.drop_speakers) - set(clips.groups)
        if missing:
            raise UserInputError(f"--drop-speakers {sorted(missing)} not found; speakers are {sorted(set(clips.groups))}")
        clips = clips.subset(lambda i: clips.groups[i] not in cfg.drop_speakers)
    extra = read_clips(cfg.pretrain_dir, cfg.sample_rate) if cfg.pretrain_dir else None
    unlabelled = clips.unlabelled
    if extra is not None:
        unlabelled = unlabelled + extra
    labelled = clips.labelled
    no_labels = len(labelled) == 0 and not cfg.test_dir
    if cfg.split == "none" or (cfg.split == "auto" and no_labels and not cfg.test_speaker):
        if cfg.split == "auto":
            logger.warning("[audio_contrastive] %s: no labelled clips (files directly in the folder, not FSDD-named): "
                           "pre-training only, probes skipped; for probes give class folders (%s/<class>/*.wav), "
                           "FSDD names or a csv of path,label", cfg.data_dir, cfg.data_dir)
        pretrain = clips + extra if extra is not None else clips
        check_batch_fits(len(pretrain), cfg.batch_size, str(cfg.data_dir))
        return pretrain, None, pretrain
    train, test = split(cfg, labelled)
    pretrain = train + unlabelled if len(unlabelled) else train
    check_batch_fits(len(pretrain), cfg.batch_size, str(cfg.data_dir))
    return train, test, pretrain


def split(cfg: Config, clips: AudioClips | None = None) -> tuple[AudioClips, AudioClips]:
    """Labelled ``(train, test)`` clips; ``clips``: the labelled clips of ``--data-dir`` (read when None)."""
    train, test = _split(cfg, read_clips(cfg.data_dir, cfg.sample_rate).labelled if clips is None else clips)
    shared = set(train.labels) & set(test.labels)
    if not shared:
        raise UserInputError(
            f"the test clips ({cfg.test_dir or cfg.data_dir}) share no label with the training clips ({cfg.data_dir}): "
            f"training labels {sorted(set(train.labels))[:10]}, test labels {sorted(set(test.labels))[:10]}; every accuracy "
            f"would be 0. Name the clips with the same labels (FSDD: {{label}}_{{speaker}}_{{take}}.wav, class folders "
            f"<class>/*.wav, or a csv path,label)")
    return train, test


def _split(cfg: Config, clips: AudioClips) -> tuple[AudioClips, AudioClips]:
    if cfg.test_dir:
        test = read_clips(cfg.test_dir, cfg.sample_rate)
        if len(test.labelled) == 0:
            raise UserInputError(f"--test-dir {cfg.test_dir}: no labelled clips (files directly in the folder, not FSDD-named); "
                                 f"put them in class folders ({cfg.test_dir}/<class>/*.wav) or list them in a csv of path,label")
        if len(clips) == 0:
            raise UserInputError(f"--data-dir {cfg.data_dir} has no labelled clips for the probes to train on; pre-train on it and "
                                 f"split the labelled clips instead: --pretrain-dir {cfg.data_dir} --data-dir {cfg.test_dir}")
        return clips, test.labelled
    if len(clips) == 0:
        raise UserInputError(f"--data-dir {cfg.data_dir} has no labelled clips; give class folders ({cfg.data_dir}/<class>/*.wav), "
                             f"FSDD names or a csv of path,label, or pre-train only with --split none")
    if cfg.test_speaker:
        if cfg.test_speaker not in set(clips.groups):
            raise UserInputError(f"--test-speaker {cfg.test_speaker!r} not found; speakers are {sorted(set(clips.groups))}")
        return clips.subset(lambda i: clips.groups[i] != cfg.test_speaker), clips.subset(lambda i: clips.groups[i] == cfg.test_speaker)
    by_take = cfg.split == "take" or (cfg.split == "auto" and clips.has_takes)
    if by_take:
        if not clips.has_takes:
            raise UserInputError(f"--split take: {sum(t < 0 for t in clips.takes)} clips of {cfg.data_dir} are not named "
                                 f"{{label}}_{{speaker}}_{{take}} (no take); use --split random or --test-dir")
        train, test = clips.subset(lambda i: clips.takes[i] >= cfg.test_takes), clips.subset(lambda i: clips.takes[i] < cfg.test_takes)
        if len(test) == 0 or len(train) == 0:
            raise UserInputError(f"splitting by take < {cfg.test_takes} leaves {len(train)} training and {len(test)} test clips; "
                                 f"use --split random (a seeded per-class split) or --test-dir")
        return train, test
    train, test = clips.split_per_class(cfg.test_fraction, cfg.seed)
    if len(test) == 0:
        raise UserInputError(f"--split random: every class of {cfg.data_dir} has a single clip, so none can be held out; "
                             f"add clips or give --test-dir")
    logger.info("[audio_contrastive] seeded per-class split (--test-fraction %g, --seed %d): %d training, %d test clips",
                cfg.test_fraction, cfg.seed, len(train), len(test))
    return train, test


def logmel_stats(adapter: AudioAdapter, waveforms, cmvn: str = "none") -> np.ndarray:
    """Per-band mean and std of the log-mel spectrogram over time: the classic fixed features.
    With ``cmvn="mean"`` the per-band means are removed first (so only the std carries information)."""
    from multicl.encoders.audio import LogMelFrontend

    frontend = LogMelFrontend(adapter.sample_rate, adapter.n_mels, cmvn=cmvn).eval()
    feats = []
    with torch.no_grad():
        for wave in waveforms:
            spec = frontend(torch.from_numpy(wave)[None])[0]  # (n_mels, T)
            feats.append(torch.cat([spec.mean(1), spec.std(1)]).numpy())
    return np.stack(feats)


def make_adapter(train: AudioClips, labels, cfg: Config, views: WaveViews, specaugment, positive="view") -> AudioAdapter:
    return AudioAdapter(train.waveforms, cfg.sample_rate, views, labels=labels, speakers=train.groups, positive=positive,
                        specaugment=tuple(specaugment), embed_dim=cfg.embed_dim, cmvn=cfg.cmvn, mel_warp=cfg.mel_warp)


def build_encoder(adapter: AudioAdapter, cfg: Config) -> torch.nn.Module:
    from multicl.encoders.audio import AudioCNNEncoder

    freq, time_ = adapter.specaugment
    return AudioCNNEncoder(cfg.sample_rate, cfg.embed_dim, adapter.n_mels, tuple(cfg.channels), freq_mask=freq, time_mask=time_,
                           cmvn=adapter.cmvn, mel_warp=adapter.mel_warp)


def pretrain_spec(cfg: Config, method: str | None = None) -> PretrainSpec:
    """The recipe's flags -> the pre-training method and its settings (``method`` overrides ``--method``)."""
    crops = MultiCropSpec(cfg.global_crops, (float(cfg.global_share[0]), float(cfg.global_share[-1])), cfg.local_crops,
                          (float(cfg.local_share[0]), float(cfg.local_share[-1])))
    return PretrainSpec(method or cfg.method, cfg.temperature, crops, cfg.dino_out_dim, cfg.dino_momentum,
                        (float(cfg.teacher_temperature[0]), float(cfg.teacher_temperature[-1])), cfg.keep)


def pretrain_and_save(pretrain_adapter: AudioAdapter, adapter: AudioAdapter, out: Path, cfg: Config):
    """Pre-train on ``pretrain_adapter``'s clips, save ``out/model`` (encoder + ``adapter``'s sample
    rate / frontend settings + card, swapped in atomically); returns ``(trained, seconds)``."""
    from multicl.api import EmbeddingModel
    from multicl.models.card import ModelCard
    from multicl.train.run_identity import config_fingerprint

    t = time.perf_counter()
    trained = contrastive(pretrain_adapter, out / "pretrain", cfg.max_steps, cfg)
    seconds = time.perf_counter() - t
    saved = fuse(trained.encoder, pretrain_adapter, cfg)
    EmbeddingModel.from_adapter(adapter, saved).save(out / "model", card=ModelCard.from_run(
        "audio_contrastive", dataclasses.asdict(cfg), config_fingerprint(cfg), {"pretrain_seconds": seconds}))
    return trained, saved, seconds


def fuse(encoder: torch.nn.Module, adapter: AudioAdapter, cfg: Config) -> torch.nn.Module:
    """``--fuse-stats``: the trained CNN wrapped with its clips' log-mel statistics (mu / sigma fitted on
    ``adapter``'s clips, the pre-training ones), else the CNN itself."""
    if cfg.fuse_stats == "none":
        return encoder
    from multicl.encoders.audio_fusion import AudioStatsFusionEncoder

    fused = AudioStatsFusionEncoder.wrap(encoder, "none" if cfg.fuse_stats == "plain" else "mean", cfg.fuse_weight, cfg.fuse_whiten).eval()
    device = next(encoder.parameters()).device
    waves = adapter.waveforms
    return fused.fit_statistics(adapter.prepare_inputs(waves[i:i + 256]).to(device) for i in range(0, len(waves), 256))


def contrastive(adapter: AudioAdapter, out_dir: Path, steps: int, cfg: Config, method: str | None = None,
                labelled: bool = False) -> Pretrained:
    """Pre-train a fresh CNN on ``adapter``'s clips with ``--method`` (or ``method``; ``labelled``:
    SupCon on the adapter's labels) -> :class:`Pretrained` (encoder to keep, encoders to probe)."""
    torch.manual_seed(cfg.seed)
    encoder = build_encoder(adapter, cfg)
    return pretrain(adapter, pretrain_spec(cfg, method), encoder, cfg.embed_dim, out_dir,
                    trainer_config(out_dir, steps, cfg.batch_size, cfg.learning_rate, cfg.seed, cfg.device, cfg.precision), cfg.seed, labelled)


def main(cfg: Config) -> dict[str, float]:
    start = time.perf_counter()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    train, test, pretrain = load_data(cfg)  # data errors before the run folder is claimed
    out, device = start_run(cfg)
    if test is None:
        return pretrain_only(cfg, pretrain, out, start)
    names = sorted(set(train.labels) | set(test.labels))
    y_train = np.array([names.index(label) for label in train.labels])
    y_test = np.array([names.index(label) for label in test.labels])
    logger.info("[audio_contrastive] %d training clips (%d speakers), %d test clips (%d speakers), %d classes",
                len(train), len(set(train.groups)), len(test), len(set(test.groups)), len(names))
    snr = tuple(cfg.noise_snr_db) if cfg.noise_snr_db else None
    views = WaveViews(speed=(min(cfg.speed), max(cfg.speed)) if cfg.speed else None, crop_seconds=cfg.crop_seconds or None, snr_db=snr)
    adapter = make_adapter(train, None, cfg, views, cfg.specaugment)
    pretrain_adapter = adapter if pretrain is train else make_adapter(pretrain, None, cfg, views, cfg.specaugment)
    metrics: dict[str, float] = {"train_clips": float(len(train)), "test_clips": float(len(test))}
    if pretrain is not train:
        metrics["pretrain_clips"] = float(len(pretrain))
    metrics.update(train.counts("data_dir"))  # files skipped (by reason) and clips padded, also named in the log
    if cfg.test_dir:
        metrics.update(test.counts("test_dir"))

    def evaluate(encoder, prefix):
        encoder = encoder.to(device)
        return probe_accuracies(encode_waveforms(encoder, adapter, train.waveforms, device=device), y_train,
                      encode_waveforms(encoder, adapter, test.waveforms, device=device), y_test, cfg.knn_k, prefix)

    # 1-2. self-supervised pre-training, probes
    trained, saved, metrics["pretrain_seconds"] = pretrain_and_save(pretrain_adapter, adapter, out, cfg)
    summary = trained.summary
    metrics.update(evaluate(saved, "test"))  # the saved model's embedding
    if saved is not trained.encoder:
        metrics.update(evaluate(trained.encoder, "test_cnn"))
    for name, probed in trained.probe.items():  # DINO: student and teacher, whichever is kept
        metrics.update(evaluate(probed, f"test_{name}"))
    metrics.update(probe_accuracies(logmel_stats(adapter, train.waveforms), y_train, logmel_stats(adapter, test.waveforms), y_test, cfg.knn_k, "test_logmel_stats"))
    if cfg.cmvn != "none":  # the baseline with the encoder's normalisation (per-band means removed: std only)
        metrics.update(probe_accuracies(logmel_stats(adapter, train.waveforms, "mean"), y_train, logmel_stats(adapter, test.waveforms, "mean"), y_test,
                              cfg.knn_k, "test_logmel_cmvn_stats"))
    torch.manual_seed(cfg.seed)
    metrics.update(evaluate(build_encoder(adapter, cfg), "test_random_init"))

    # supervised baselines: cross-entropy CNN (same views), and SupCon
    supervised_steps = cfg.supervised_steps or (cfg.max_steps if cfg.baselines_full else 0)
    if supervised_steps:
        t = time.perf_counter()
        rng = np.random.default_rng(cfg.seed)

        def inputs_of(rows):
            return adapter.prepare_inputs([adapter._view(int(r), rng) for r in rows])

        torch.manual_seed(cfg.seed)
        classifier = train_classifier(build_encoder(adapter, cfg), inputs_of, y_train, len(names), steps=supervised_steps,
                                      batch_size=cfg.batch_size, learning_rate=cfg.learning_rate, seed=cfg.seed, device=device,
                                      class_weighted=False)
        test_inputs = adapter.prepare_inputs
        pred = predict(classifier, lambda rows: test_inputs([test.waveforms[i] for i in rows]), len(test), batch_size=128, device=device)
        metrics["test_supervised_cnn_accuracy"] = 100 * float((pred == y_test).mean())
        metrics.update(evaluate(classifier[0], "test_supervised_cnn_features"))
        metrics["supervised_seconds"] = time.perf_counter() - t
        t = time.perf_counter()
        labelled = make_adapter(train, y_train, cfg, views, cfg.specaugment)
        supcon = contrastive(labelled, out / "supcon", supervised_steps, cfg, method="infonce", labelled=True).encoder
        metrics.update(evaluate(supcon, "test_supcon"))
        metrics["supcon_seconds"] = time.perf_counter() - t

    # ablations of the views
    if cfg.ablations or cfg.baselines_full:
        variants = {
            "no_specaugment": (views, (0, 0), cfg),
            "no_crop": (dataclasses.replace(views, crop_seconds=None), cfg.specaugment, cfg),
            "no_noise": (dataclasses.replace(views, snr_db=None), cfg.specaugment, cfg),
        }
        if cfg.cmvn != "none":
            variants["no_cmvn"] = (views, cfg.specaugment, dataclasses.replace(cfg, cmvn="none"))
        if cfg.speed or cfg.mel_warp:
            variants["no_speed_warp"] = (dataclasses.replace(views, speed=None), cfg.specaugment, dataclasses.replace(cfg, mel_warp=0.0))
        for name, (variant_views, spec, variant_cfg) in variants.items():
            t = time.perf_counter()
            variant = make_adapter(pretrain, None, variant_cfg, variant_views, spec)
            encoder_v = contrastive(variant, out / f"ablation_{name}", cfg.max_steps, variant_cfg).encoder
            metrics.update(evaluate(encoder_v, f"test_{name}"))
            metrics[f"{name}_seconds"] = time.perf_counter() - t

    metrics["wall_seconds"] = time.perf_counter() - start
    metrics["pretrain_clips_per_second"] = float(summary.get("samples_per_second", float("nan")))
    atomic_write_json(out / "metrics.json", metrics)
    print(report(metrics, cfg))
    return metrics


def pretrain_only(cfg: Config, clips: AudioClips, out: Path, start: float) -> dict[str, float]:
    """No labels to probe: contrastive pre-training on every clip, the model saved, no probes."""
    logger.info("[audio_contrastive] pre-training only on %d clips (labels unused, no probes)", len(clips))
    snr = tuple(cfg.noise_snr_db) if cfg.noise_snr_db else None
    views = WaveViews(speed=(min(cfg.speed), max(cfg.speed)) if cfg.speed else None, crop_seconds=cfg.crop_seconds or None, snr_db=snr)
    adapter = make_adapter(clips, None, cfg, views, cfg.specaugment)
    metrics: dict[str, float] = {"train_clips": float(len(clips)), "pretrain_clips": float(len(clips))}
    metrics.update(clips.counts("data_dir"))
    trained, _, metrics["pretrain_seconds"] = pretrain_and_save(adapter, adapter, out, cfg)
    summary = trained.summary
    metrics["wall_seconds"] = time.perf_counter() - start
    metrics["pretrain_clips_per_second"] = float(summary.get("samples_per_second", float("nan")))
    atomic_write_json(out / "metrics.json", metrics)
    print(f"pre-training only ({len(clips)} clips, no labels to probe): wall {metrics['wall_seconds']:.0f}s; "
          f"model in {out / 'model'} (multicl.EmbeddingModel.load)")
    return metrics


def report(m: dict[str, float], cfg: Config) -> str:
    rows = [["log-mel mean/std + probe", m["test_logmel_stats_knn_accuracy"], m["test_logmel_stats_linear_accuracy"]],
            *([["log-mel CMVN'd std + probe", m["test_logmel_cmvn_stats_knn_accuracy"], m["test_logmel_cmvn_stats_linear_accuracy"]]]
              if "test_logmel_cmvn_stats_knn_accuracy" in m else []),
            ["CNN, random init", m["test_random_init_knn_accuracy"], m["test_random_init_linear_accuracy"]],
            [f"CNN, self-supervised {cfg.method} ({'alone' if 'test_cnn_knn_accuracy' in m else 'ours'}, no labels"
             f"{', ' + cfg.keep if cfg.method == 'dino' else ''})",
             m.get("test_cnn_knn_accuracy", m["test_knn_accuracy"]), m.get("test_cnn_linear_accuracy", m["test_linear_accuracy"])]]
    if "test_cnn_knn_accuracy" in m:
        whitened = f", whitened C^-{cfg.fuse_whiten:g}" if cfg.fuse_whiten > 0 else ""
        rows.append([f"CNN + {cfg.fuse_stats} log-mel stats, weight {cfg.fuse_weight:g}{whitened} (ours, the saved model)", m["test_knn_accuracy"],
                     m["test_linear_accuracy"]])
    for name in ("student", "teacher"):
        if f"test_{name}_knn_accuracy" in m:
            rows.append([f"  dino {name} encoder", m[f"test_{name}_knn_accuracy"], m[f"test_{name}_linear_accuracy"]])
    if "test_supervised_cnn_accuracy" in m:
        rows += [["CNN, supervised cross-entropy (its own head)", "-", m["test_supervised_cnn_accuracy"]],
                 ["CNN, supervised cross-entropy (features + probe)", m["test_supervised_cnn_features_knn_accuracy"], m["test_supervised_cnn_features_linear_accuracy"]],
                 ["CNN, supervised contrastive (SupCon)", m["test_supcon_knn_accuracy"], m["test_supcon_linear_accuracy"]]]
    for name in ("no_specaugment", "no_crop", "no_noise", "no_cmvn", "no_speed_warp"):
        if f"test_{name}_knn_accuracy" in m:
            rows.append([f"contrastive, {name.replace('_', ' ')}", m[f"test_{name}_knn_accuracy"], m[f"test_{name}_linear_accuracy"]])
    table = format_table(rows, ["encoder", f"kNN acc (k={cfg.knn_k})", "linear acc"])
    return f"{table}\nwall {m['wall_seconds']:.0f}s (pre-training {m['pretrain_seconds']:.0f}s); outputs in {cfg.out_dir}/"


def cli(argv: list[str] | None = None) -> dict[str, float]:
    return run_cli(main, Config, argv, __doc__.split("\n\n")[0], check=check_args)


if __name__ == "__main__":
    raise SystemExit(console_main(cli))
