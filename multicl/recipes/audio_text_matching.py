"""Two towers across modalities: spoken-digit clips (audio CNN) matched to the digit's word (text transformer).

    python -m multicl.recipes.audio_text_matching --out-dir runs/att/run1                  # test speakers theo, george
    python -m multicl.recipes.audio_text_matching --eval-split dev --out-dir runs/att/dev1  # tune on the dev speaker only

``--data-dir``: FSDD-named clips ``{digit}_{speaker}_{take}.wav`` (labels 0-9 become the words
``--words``). Split by speaker: ``--test-speakers`` are held back; ``--dev-speaker`` is carved
from the other speakers. ``--eval-split dev`` trains on the rest and scores the dev speaker (the
test speakers are not read); ``--eval-split test`` trains on every non-test speaker (dev
included) and scores the test speakers. Every default below says which split chose it.

Rows (``--rows``), each over ``--seeds``:
  ``random_init``  untrained audio CNN + the pretrained text tower (chance level: the floor);
  ``one_tower``    only the audio tower trains, against the FROZEN pretrained text tower (LiT's
                   "locked" tower: one trainable tower; a single shared tower cannot read both
                   audio and text, so this is the one-tower baseline that exists here);
  ``two_towers``   both towers train (one AdamW learning rate for both: the trainer has one).
Loss: InfoNCE, audio anchors against the in-batch texts; clips of the same digit share the
text's ``group_id`` and ``FalseNegativePolicy(same_group=True)`` removes them from each
other's negatives. No projection heads: the audio CNN outputs the text tower's width.

Metrics, computed directly (cosine similarity, no index): audio->text, each held-back clip
ranks the words: ``a2t_recall@1`` / ``@5`` (percent; 10 words: chance 10 / 50) and ``a2t_mrr``;
text->audio, each word ranks every held-back clip, relevant = clips of that digit:
``t2a_map`` (mean average precision, percent; chance ~10) and ``t2a_precision@10``.
Outputs: ``out_dir/{config,metrics}.json`` (per row: mean, std (ddof=1), per-seed values),
``out_dir/summary.md`` (the table), and per row and seed ``out_dir/{row}/seed{s}/`` with its
own ``config.json``, ``metrics.json``, the trainer's log and ``model/audio/`` (and ``model/text/`` when the text tower was trained), each ``multicl.EmbeddingModel.load``-able.
"""
from __future__ import annotations

import dataclasses
import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from multicl.data.audio_files import AudioClips, read_clips
from multicl.modalities.views_dataset import ViewsDataset
from multicl.eval.report import format_table
from multicl.modalities.audio import AudioAdapter, WaveViews, encode_waveforms
from multicl.modalities.paired import PairedAdapter
from multicl.modalities.text import TextAdapter, TextSample
from multicl.negatives.masks import FalseNegativePolicy
from multicl.objectives import build_objective
from multicl.recipes._cli import OVERWRITE_HELP, config_from_args, start_run
from multicl.recipes._cross_modal import WordTower, embed_words, matching_metrics
from multicl.recipes.audio_contrastive import SHARED
from multicl.train.config import TrainerConfig
from multicl.train.learner import ContrastiveLearner
from multicl.train.trainer import Trainer
from multicl.utils.io import atomic_write_json, replace_directory

logger = logging.getLogger("multicl.recipes.audio_text_matching")
ROWS = ("random_init", "one_tower", "two_towers")
DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


@dataclass(frozen=True)
class Config:
    data_dir: str = field(default=str(SHARED), metadata={"help": "folder of {digit}_{speaker}_{take}.wav files (FSDD naming)"})
    out_dir: str = field(default="runs/audio_text_matching", metadata={"help": "output folder (a finished one is refused: use a fresh one)"})
    overwrite: bool = field(default=False, metadata={"help": OVERWRITE_HELP})
    device: str = field(default="auto", metadata={"help": "auto | cpu | cuda"})
    seeds: tuple[int, ...] = field(default=(0, 1, 2), metadata={"help": "one run per seed and row (CNN init, views, batches)"})
    rows: tuple[str, ...] = field(default=ROWS, metadata={"help": f"which rows to run, of {ROWS}"})
    test_speakers: tuple[str, ...] = field(default=("theo", "george"), metadata={"help": "held-back test speakers"})
    dev_speaker: str = field(default="nicolas", metadata={"help": "speaker carved from the training speakers to choose defaults"})
    eval_split: str = field(default="test", metadata={"help": "dev: train without the dev speaker, score it; test: train on all non-test speakers, score the test ones",
                                                       "choices": ("dev", "test")})
    words: tuple[str, ...] = field(default=DIGIT_WORDS, metadata={"help": "the text of label i (FSDD labels are the digits 0-9)"})
    text_model: str = field(default="all-MiniLM-L6-v2", metadata={"help": "text tower: the packaged model's name or a local model folder"})
    text_max_length: int = field(default=4, metadata={"help": "tokens per text (a digit word is [CLS] word [SEP] = 3)"})
    precision: str = field(default="bf16", metadata={"help": "no | bf16 | fp16 | auto (bf16 autocast: CNN step 0.10 -> 0.07 s on 1 CPU thread)"})
    sample_rate: int = field(default=8000, metadata={"help": "clips are resampled to this rate"})
    # dev split (train jackson + lucas, score nicolas), 300 steps, 1 seed: see benchmarks/results/audio_text/README.md
    max_steps: int = field(default=400, metadata={"help": "training steps per trained row and seed"})
    batch_size: int = field(default=64, metadata={"help": "clips (and their words) per step"})
    learning_rate: float = field(default=1e-3, metadata={"help": "AdamW learning rate of every trainable tower (chosen on dev)"})
    weight_decay: float = field(default=1e-4, metadata={"help": "AdamW weight decay (not on biases / norms)"})
    temperature: float = field(default=0.1, metadata={"help": "InfoNCE temperature (chosen on dev)"})
    # audio views: the audio_contrastive recipe's defaults (chosen there by leave-one-speaker-out)
    crop_seconds: float = field(default=0.6, metadata={"help": "random crop / pad length of a training view (0: whole clip)"})
    noise_snr_db: tuple[float, ...] = field(default=(10.0, 30.0), metadata={"help": "white-noise SNR range of the views (empty: off)"})
    specaugment: tuple[int, ...] = field(default=(8, 10), metadata={"help": "frequency and time mask widths (0 0: off)"})
    speed: tuple[float, ...] = field(default=(0.8, 1.25), metadata={"help": "speed-perturbation factor range (empty: off)"})
    mel_warp: float = field(default=0.15, metadata={"help": "training-time mel-axis warp (0: off)"})
    cmvn: str = field(default="mean", metadata={"help": "per-utterance log-mel normalisation", "choices": ("none", "mean", "meanvar")})
    channels: tuple[int, ...] = field(default=(16, 32, 64, 64), metadata={"help": "audio CNN widths"})
    save_text_tower: bool = field(default=False, metadata={"help": "also save the trained text tower (90 MB per seed for MiniLM)"})
    keep_checkpoints: bool = field(default=False, metadata={"help": "keep the trainer's resumable checkpoint (tower weights + optimizer) of each run"})


# -- data ------------------------------------------------------------------------------------------
def split(cfg: Config) -> tuple[AudioClips, AudioClips]:
    """(training clips, evaluation clips) by speaker; see the module doc."""
    clips = read_clips(cfg.data_dir, cfg.sample_rate)
    speakers = sorted(set(clips.groups))
    named = set(cfg.test_speakers) | ({cfg.dev_speaker} if cfg.dev_speaker else set())
    missing = sorted(named - set(speakers))
    if missing:
        raise ValueError(f"speakers {missing} (--test-speakers / --dev-speaker) are not in {cfg.data_dir}; its speakers are {speakers}")
    if cfg.dev_speaker in cfg.test_speakers:
        raise ValueError(f"--dev-speaker {cfg.dev_speaker!r} is also a test speaker; carve the dev speaker from the training speakers")
    if cfg.eval_split == "dev":
        if not cfg.dev_speaker:
            raise ValueError("--eval-split dev needs --dev-speaker")
        held = {cfg.dev_speaker}
        pool = clips.subset(lambda i: clips.groups[i] not in set(cfg.test_speakers))  # test clips are never read into the split
    else:
        held, pool = set(cfg.test_speakers), clips
    train, held_out = pool.subset(lambda i: pool.groups[i] not in held), pool.subset(lambda i: pool.groups[i] in held)
    if len(train) == 0 or len(held_out) == 0:
        raise ValueError(f"the {cfg.eval_split} split leaves {len(train)} training and {len(held_out)} evaluation clips; "
                         f"check --test-speakers / --dev-speaker against the speakers {speakers}")
    return train, held_out


def word_indices(labels: Sequence[str], words: Sequence[str]) -> np.ndarray:
    """FSDD labels ("0".."9") -> positions in ``words``; a clear error for anything else."""
    out = []
    for label in labels:
        if not str(label).isdigit() or int(label) >= len(words):
            raise ValueError(f"label {label!r}: expected a digit 0..{len(words) - 1} naming one of --words {list(words)}")
        out.append(int(label))
    return np.asarray(out)


# -- towers ----------------------------------------------------------------------------------------
def audio_adapter(train: AudioClips, cfg: Config, embed_dim: int) -> AudioAdapter:
    views = WaveViews(speed=(min(cfg.speed), max(cfg.speed)) if cfg.speed else None, crop_seconds=cfg.crop_seconds or None,
                      snr_db=tuple(cfg.noise_snr_db) if cfg.noise_snr_db else None)
    return AudioAdapter(train.waveforms, cfg.sample_rate, views, speakers=train.groups, specaugment=tuple(cfg.specaugment),
                        embed_dim=embed_dim, cmvn=cfg.cmvn, mel_warp=cfg.mel_warp)


def build_audio_encoder(adapter: AudioAdapter, cfg: Config) -> nn.Module:
    from multicl.encoders.audio import AudioCNNEncoder

    freq, time_ = adapter.specaugment
    return AudioCNNEncoder(cfg.sample_rate, adapter.embed_dim, adapter.n_mels, tuple(cfg.channels), freq_mask=freq, time_mask=time_,
                           cmvn=adapter.cmvn, mel_warp=adapter.mel_warp)


# -- one row, one seed -----------------------------------------------------------------------------
def run_one(row: str, seed: int, cfg: Config, data: dict[str, Any], device: str, folder: Path) -> dict[str, float]:
    text: TextAdapter = data["text"]
    torch.manual_seed(seed)
    text_tower = WordTower(text.build_encoder(), frozen=row != "two_towers")
    audio = audio_adapter(data["train"], cfg, text_tower.embed_dim)  # no heads: the CNN outputs the text width
    audio_encoder = build_audio_encoder(audio, cfg)
    metrics: dict[str, float] = {}
    if row != "random_init":
        words = [TextSample(cfg.words[t]) for t in data["train_targets"]]
        paired = PairedAdapter(audio, text, list(range(len(data["train"]))), words)
        learner = ContrastiveLearner(audio_encoder, build_objective("info_nce", temperature=cfg.temperature),
                                     policy=FalseNegativePolicy(same_group=True), candidate_encoder=text_tower)
        trainer_cfg = TrainerConfig(out_dir=str(folder), max_steps=cfg.max_steps, batch_size=cfg.batch_size, learning_rate=cfg.learning_rate,
                                    weight_decay=cfg.weight_decay, warmup_ratio=0.05, lr_schedule="cosine", seed=seed, device=cfg.device,
                                    precision=cfg.precision, log_every=25, save_every=0, overwrite=True, tensorboard=False, num_workers=0)
        losses: list[float] = []
        t = time.perf_counter()
        Trainer(learner, ViewsDataset(paired.samples, paired, seed=seed), paired.collate, trainer_cfg,
                callbacks=[lambda step, logs: losses.append(float(logs["loss"]))]).train()
        metrics["train_seconds"] = time.perf_counter() - t
        window = max(1, min(25, len(losses) // 4))  # loss averaged over the first / last steps
        metrics["loss_first"], metrics["loss_last"] = float(np.mean(losses[:window])), float(np.mean(losses[-window:]))
        if not cfg.keep_checkpoints:
            shutil.rmtree(folder / "checkpoints", ignore_errors=True)
    audio_encoder, text_tower = audio_encoder.to(device), text_tower.to(device)
    audio_z = encode_waveforms(audio_encoder, audio, data["eval"].waveforms, device=device)
    metrics.update(matching_metrics(audio_z, embed_words(text_tower, text, cfg.words, device), data["eval_targets"]))
    _save(folder, audio, audio_encoder, text, text_tower, row, cfg)
    atomic_write_json(folder / "config.json", {**dataclasses.asdict(cfg), "row": row, "seed": seed})
    atomic_write_json(folder / "metrics.json", metrics)
    return metrics


def _save(folder: Path, audio: Any, audio_encoder: nn.Module, text: TextAdapter, text_tower: WordTower, row: str, cfg: Config) -> None:
    """``model/audio`` (and with ``save_text_tower``, ``model/text``): each tower in the one saved-model
    format, so ``EmbeddingModel.load(out/"model"/"audio").encode(["clip.wav"])`` and the text side embed
    into the same space; written atomically together."""
    from multicl.api import EmbeddingModel

    def write(model_dir: Path) -> None:
        EmbeddingModel.from_adapter(audio, audio_encoder).save(model_dir / "audio")
        if cfg.save_text_tower and row == "two_towers":
            EmbeddingModel.from_adapter(text, text_tower.encoder).save(model_dir / "text")

    replace_directory(write, folder / "model")


# -- the recipe ------------------------------------------------------------------------------------
def check_config(cfg: Config) -> None:
    unknown = [r for r in cfg.rows if r not in ROWS]
    if unknown or not cfg.rows:
        raise ValueError(f"--rows {list(cfg.rows)}: expected one or more of {list(ROWS)}")
    if not cfg.seeds:
        raise ValueError("--seeds is empty: give at least one seed")
    if len(cfg.words) < 2 or len(set(cfg.words)) != len(cfg.words):
        raise ValueError(f"--words needs at least two distinct texts, got {list(cfg.words)}")
    if (Path(cfg.out_dir) / "metrics.json").exists() and not cfg.overwrite:
        raise FileExistsError(f"{cfg.out_dir} holds a finished run (metrics.json); use a fresh --out-dir (or --overwrite to replace it)")


def main(cfg: Config) -> dict[str, float]:
    start = time.perf_counter()
    check_config(cfg)
    out, device = start_run(cfg)
    train, held_out = split(cfg)
    data = {"train": train, "eval": held_out, "train_targets": word_indices(train.labels, cfg.words),
            "eval_targets": word_indices(held_out.labels, cfg.words),
            "text": TextAdapter.from_pretrained(cfg.text_model, max_length=cfg.text_max_length, pooling="mean")}
    logger.info("[audio_text_matching] train %d clips (%s), %s %d clips (%s)", len(train), ", ".join(sorted(set(train.groups))),
                cfg.eval_split, len(held_out), ", ".join(sorted(set(held_out.groups))))
    per_seed: dict[str, list[dict[str, float]]] = {}
    for row in cfg.rows:
        for seed in cfg.seeds:
            m = run_one(row, seed, cfg, data, device, out / row / f"seed{seed}")
            logger.info("[audio_text_matching] %s seed %d: %s", row, seed, {k: round(v, 2) for k, v in m.items()})
            per_seed.setdefault(row, []).append(m)
    metrics: dict[str, Any] = {"train_clips": float(len(train)), "eval_clips": float(len(held_out))}
    for row, runs in per_seed.items():
        for key in runs[0]:
            values = np.array([r[key] for r in runs], dtype=np.float64)
            metrics[f"{row}/{key}_mean"] = float(values.mean())
            metrics[f"{row}/{key}_std"] = float(values.std(ddof=1)) if len(values) > 1 else float("nan")
            metrics[f"{row}/{key}_per_seed"] = values.tolist()
    metrics["wall_seconds"] = time.perf_counter() - start
    table = report(metrics, cfg, train, held_out)
    atomic_write_json(out / "metrics.json", metrics)
    (out / "summary.md").write_text(table + "\n")
    print(table)
    return metrics


ROW_NAMES = {"random_init": "(a) random-init audio CNN + pretrained text tower",
             "one_tower": "(b) one trainable tower: audio CNN vs FROZEN text tower (LiT)",
             "two_towers": "(c) two towers: audio CNN + text tower both trained"}
COLUMNS = (("a2t_recall@1", "a->t R@1"), ("a2t_recall@5", "a->t R@5"), ("a2t_mrr", "a->t MRR"), ("t2a_map", "t->a mAP"),
           ("t2a_precision@10", "t->a P@10"))


def report(m: dict[str, Any], cfg: Config, train: AudioClips, held_out: AudioClips) -> str:
    def cell(row: str, key: str) -> str:
        mean, std = m[f"{row}/{key}_mean"], m[f"{row}/{key}_std"]
        return f"{mean:.1f}" if np.isnan(std) else f"{mean:.1f} ± {std:.1f}"

    n = len(cfg.words)
    rows = [[ROW_NAMES[r]] + [cell(r, k) for k, _ in COLUMNS] for r in cfg.rows]
    table = format_table(rows, ["row"] + [name for _, name in COLUMNS])
    protocol = (f"split: train {len(train)} clips ({', '.join(sorted(set(train.groups)))}); {cfg.eval_split} {len(held_out)} clips "
                f"({', '.join(sorted(set(held_out.groups)))}); gallery: the {len(cfg.words)} words (audio->text), the {len(held_out)} clips (text->audio)\n"
                f"seeds {list(cfg.seeds)} (mean ± std, ddof=1); {cfg.max_steps} steps, batch {cfg.batch_size}, InfoNCE temperature "
                f"{cfg.temperature}, AdamW lr {cfg.learning_rate} (both towers in (c)), precision {cfg.precision}, text {cfg.text_model} "
                f"max_length {cfg.text_max_length}; chance: R@1 {100 / n:.0f}, R@5 {100 * min(5, n) / n:.0f}, mAP ~{100 / n:.0f}. "
                f"A single shared tower cannot read audio and text: (b) is the one-trainable-tower baseline.")
    return f"{protocol}\n\n{table}\nwall {m['wall_seconds']:.0f}s; outputs in {cfg.out_dir}/"


def cli(argv: list[str] | None = None) -> dict[str, float]:
    return main(config_from_args(Config, argv, __doc__.split("\n\n")[0]))


if __name__ == "__main__":
    cli()
