"""SimCSE for sentence embeddings: unsupervised (dropout views), supervised (NLI triplets) or scored pairs.

    python -m multicl.recipes.text_simcse                       # embedded demo, ~2 min on 2 CPU cores
    python -m multicl.recipes.text_simcse --mode unsup \
        --train-file sentences.txt --dev-file sts-dev.csv --test-file SICK_trial.txt
    python -m multicl.recipes.text_simcse --mode sup --train-file SICK_train.txt --dev-file sts-dev.csv
    python -m multicl.recipes.text_simcse --mode scored --train-file sts-train.csv --objective cosent \
        --dev-file sts-dev.csv --test-file SICK_trial.txt        # (sentence1, sentence2, score) files

Writes to ``--out-dir``: config.json, metrics.json (before/after on every dev/test file),
metrics.jsonl + tensorboard/ (training log), training_curve.png, model/ (a folder that
``SentenceTransformer`` and ``multicl.EmbeddingModel`` load), checkpoints/ (resumable).
"""
from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Sequence

import torch

from multicl.api import EmbeddingModel
from multicl.data.text_files import read_pairs, read_sentences, read_sick_triplets, read_text
from multicl.modalities.views_dataset import ViewsDataset
from multicl.encoders.heads import HEADS, build_head
from multicl.encoders.pooling import POOLINGS
from multicl.encoders.text import DEFAULT_TEXT_MODEL
from multicl.eval.report import format_table, plot_training_curve
from multicl.eval.sts import STSEvaluator
from multicl.modalities.scored_text import ScoredPairAdapter, ScoredTextPair, normalise_scores, read_scored_pairs
from multicl.modalities.text import TextAdapter, TextSample
from multicl.modalities.text_pair_mining import label_by_paraphrase_cluster, pair_mining_data
from multicl.negatives.masks import FalseNegativePolicy
from multicl.objectives import build_objective
from multicl.errors import UserInputError
from multicl.recipes._cli import OVERWRITE_HELP, console_main, check_batch_fits, prepare_out_dir, run_cli
from multicl.train.config import TrainerConfig
from multicl.train.learner import ContrastiveLearner
from multicl.train.metrics_log import read_metrics
from multicl.train.trainer import Trainer
from multicl.utils.io import atomic_write_json, replace_directory
from multicl.views.text import TEXT_VIEWS, build_text_view

logger = logging.getLogger("multicl.recipes.text_simcse")
DEMO = "demo"  # --train-file/--dev-file value that selects the embedded, licence-clean demo data
DEMO_SCORED = "demo_scored_pairs.tsv"  # --mode scored's embedded training pairs (written for the project)
DEMO_SCORED_DEV = "demo_scored_dev.tsv"  # its held-out pairs (other people and verbs); see benchmarks/text_scored_demo.py


@dataclass(frozen=True)
class Config:
    mode: str = field(default="scored", metadata={"help": "default scored: on the embedded demo it shows a held-out gain in about a minute (benchmarks/text_scored_demo.py); unsup: dropout views of one sentence; sup: (anchor, positive[, hard negative]); scored: (sentence1, sentence2, score) pairs (STS-B train, SICK relatedness)", "choices": ["unsup", "sup", "scored"]})
    model: str = field(default=DEFAULT_TEXT_MODEL, metadata={"help": "local folder or hub id of a transformers encoder"})
    train_file: str = field(default=DEMO, metadata={"help": "sentences (.txt, one per line), pairs/triplets (.csv/.tsv), a SICK file, or (--mode scored) an STS-B/SICK/sentence1,sentence2,score file; 'demo' = embedded"})
    train_dataset: str | None = field(default=None, metadata={"help": "a datasets id (needs the hub); overrides --train-file"})
    dataset_columns: tuple[str, ...] | None = field(default=None, metadata={"help": "columns of --train-dataset: text, or anchor positive [negative]"})
    dev_file: tuple[str, ...] = field(default=(DEMO,), metadata={"help": "STS-B tsv or SICK files for model selection (first one decides); 'demo' = embedded (in --mode scored: the demo's held-out pairs, then the demo STS set)"})
    test_file: tuple[str, ...] = field(default=(), metadata={"help": "STS-B tsv or SICK files scored before and after only"})
    out_dir: str = field(default="runs/text_simcse", metadata={"help": "output folder"})
    overwrite: bool = field(default=False, metadata={"help": OVERWRITE_HELP})
    device: str = field(default="auto", metadata={"help": "auto | cpu | cuda"})
    precision: str = field(default="auto", metadata={"help": "auto | no | bf16 | fp16 (bf16 autocast also helps CPUs with AMX)"})
    seed: int = 42
    max_steps: int = field(default=60, metadata={"help": "optimizer steps"})
    batch_size: int = 32
    learning_rate: float = 3e-5
    temperature: float = field(default=0.05, metadata={"help": "softmax temperature of InfoNCE"})
    learnable_temperature: bool = False
    pooling: str = field(default="mean", metadata={"help": "pooling of token states", "choices": list(POOLINGS)})
    head: str = field(default="none", metadata={"help": "training-only projection head", "choices": list(HEADS)})
    max_length: int = field(default=32, metadata={"help": "max tokens per sentence during training"})
    eval_max_length: int = field(default=128, metadata={"help": "max tokens per sentence when encoding for evaluation and in the saved model"})
    views: tuple[str, ...] = field(default=("dropout",), metadata={"help": f"text views for unsup mode, any of {list(TEXT_VIEWS)}"})
    view_prob: float = field(default=0.1, metadata={"help": "share of words/chars changed by nlpaug views"})
    bt_forward_model: str | None = field(default=None, metadata={"help": "MarianMT source->pivot model (back_translation view)"})
    bt_backward_model: str | None = field(default=None, metadata={"help": "MarianMT pivot->source model (back_translation view)"})
    sick_missing_negatives: str = field(default="random_contradiction", metadata={"help": "SICK rows without a contradiction: random_contradiction | none | drop"})
    max_train_samples: int | None = None
    eval_every: int = 20
    keep_initial_if_better: bool = field(default=True, metadata={"help": "score the starting model too and keep it when no training step beats it on the first dev file"})
    warmup_ratio: float = 0.1
    dropout: float | None = field(default=None, metadata={"help": "override the backbone's dropout (SimCSE: 0.1)"})
    num_workers: int = 0
    resume: bool = field(default=True, metadata={"help": "continue a run of the same configuration in --out-dir; --no-resume: start over (as --overwrite)"})
    mine_negatives: int = field(default=0, metadata={"help": "hard negatives mined per anchor (0: in-batch only); --mode sup searches every training sentence and --mine-corpus, unsup the training sentences"})
    mine_corpus: tuple[str, ...] = field(default=(), metadata={"help": "--mode sup: sentence files (.txt, one per line; Leipzig id<TAB>sentence works) searched for hard negatives besides the training sentences"})
    mask_known_paraphrases: bool = field(default=True, metadata={"help": "--mode sup: sentences joined by a chain of training pairs are never each other's negatives (in the batch, hard negatives kept, mined)"})
    mine_refresh_every: int = field(default=100, metadata={"help": "re-embed the corpus and re-mine every N steps"})
    mine_rank_window: tuple[int, ...] = field(default=(3, 30), metadata={"help": "sample mined negatives among survivors ranked lo..hi (skipping the closest: likely paraphrases)"})
    mine_max_positive_ratio: float | None = field(default=0.95, metadata={"help": "NV-Retriever filter: drop candidates above this share of the positive's similarity"})
    objective: str = field(default="auto", metadata={"help": "auto (info_nce; cosent in --mode scored) | info_nce | cosent | angle | cosine_regression (the last three: --mode scored)"})
    score_range: tuple[float, ...] | None = field(default=None, metadata={"help": "--mode scored: LO HI of the file's scores, mapped to [0, 1] (default: the training data's min and max)"})
    matryoshka_dims: tuple[int, ...] = field(default=(), metadata={"help": "train nested prefixes of the embedding too, e.g. 384 256 128 64 (empty: off)"})


def _demo_path(name: str) -> Path:
    return Path(str(resources.files("multicl.resources").joinpath(name)))


def check_args(cfg: Config) -> None:
    """This recipe's own argument rules, checked before any file or model is loaded."""
    unknown = [v for v in cfg.views if v not in TEXT_VIEWS]
    if unknown:
        raise UserInputError(f"--views {' '.join(unknown)}: unknown; choose from {', '.join(TEXT_VIEWS)}")
    if "back_translation" in cfg.views and cfg.mode == "unsup" and not (cfg.bt_forward_model and cfg.bt_backward_model):
        raise UserInputError("--views back_translation needs --bt-forward-model and --bt-backward-model (MarianMT folders or hub ids)")
    if cfg.sick_missing_negatives not in ("random_contradiction", "none", "drop"):
        raise UserInputError(f"--sick-missing-negatives {cfg.sick_missing_negatives}: use random_contradiction, none or drop")
    if not cfg.dev_file:
        raise UserInputError("--dev-file: give at least one STS file (the first one selects the model), or 'demo'")
    if len(cfg.mine_rank_window) != 2 or not 0 <= cfg.mine_rank_window[0] < cfg.mine_rank_window[1]:
        raise UserInputError(f"--mine-rank-window {' '.join(map(str, cfg.mine_rank_window))}: give two ranks LO HI with 0 <= LO < HI, e.g. 3 30")
    if not 0 <= cfg.view_prob <= 1:
        raise UserInputError(f"--view-prob {cfg.view_prob}: a share of words, in [0, 1]")
    scored_objectives = ("cosent", "angle", "cosine_regression")
    if cfg.objective not in ("auto", "info_nce", *scored_objectives):
        raise UserInputError(f"--objective {cfg.objective}: choose from auto, info_nce, {', '.join(scored_objectives)}")
    if cfg.mode == "scored" and cfg.objective == "info_nce":
        raise UserInputError("--mode scored trains on graded pairs: use --objective cosent, angle or cosine_regression")
    if cfg.mode != "scored" and cfg.objective in scored_objectives:
        raise UserInputError(f"--objective {cfg.objective} reads a score per pair: use it with --mode scored and a scored file")
    if cfg.mode == "scored" and cfg.mine_negatives:
        raise UserInputError("--mine-negatives works with --mode unsup/sup; scored pairs are ranked by their grades, not negatives")
    if cfg.mine_corpus and not (cfg.mode == "sup" and cfg.mine_negatives):
        raise UserInputError("--mine-corpus adds candidates to the miner of --mode sup: use it with --mode sup --mine-negatives N")
    if cfg.score_range is not None and (len(cfg.score_range) != 2 or not cfg.score_range[0] < cfg.score_range[1]):
        raise UserInputError(f"--score-range {' '.join(map(str, cfg.score_range))}: give LO HI with LO < HI, e.g. 0 5")
    if any(d <= 0 for d in cfg.matryoshka_dims) or len(set(cfg.matryoshka_dims)) != len(cfg.matryoshka_dims):
        raise UserInputError(f"--matryoshka-dims {' '.join(map(str, cfg.matryoshka_dims))}: distinct positive sizes, e.g. 384 256 128 64")


def load_training_samples(cfg: Config, counts: dict[str, int] | None = None) -> list[TextSample]:
    """Samples for ``cfg.mode`` from a file, a datasets id or the embedded demo (``counts``: rows
    the readers skipped or dropped, by reason)."""
    if cfg.mode == "scored":
        return load_scored_samples(cfg)
    if cfg.train_dataset:
        samples = _samples_from_hub(cfg)
    elif cfg.train_file == DEMO:
        samples = [TextSample(s) for s in read_sentences(_demo_path("demo_corpus.txt"), counts=counts)]
    else:
        path = Path(cfg.train_file)
        first_line = read_text(path).split("\n", 1)[0]
        if "sentence_A" in first_line and "entailment_judgment" in first_line:
            samples = read_sick_triplets(path, seed=cfg.seed, fill_missing=cfg.sick_missing_negatives)
            if cfg.mode == "unsup":
                samples = [TextSample(t) for t in dict.fromkeys(s for x in samples for s in (x.text, x.positive))]
        elif path.suffix.lower() in (".csv", ".tsv"):
            samples = read_pairs(path, mode=cfg.mode, counts=counts)  # by header: pairs, triplets, NLI; scored files refused in sup
        else:
            samples = [TextSample(s) for s in read_sentences(path, counts=counts)]
    if cfg.mode == "sup" and any(s.positive is None for s in samples):
        raise UserInputError(
            "--mode sup needs pairs or triplets (a csv/tsv with anchor, positive[, hard_negative] or a SICK file); "
            f"{cfg.train_dataset or cfg.train_file} gave single sentences. Use --mode unsup for a sentence list."
        )
    if cfg.max_train_samples:
        samples = samples[: cfg.max_train_samples]
    return samples


def load_scored_samples(cfg: Config) -> list[ScoredTextPair]:
    """(sentence1, sentence2, score) pairs with scores mapped to [0, 1] (``--score-range`` or the data's range)."""
    if cfg.train_dataset:
        pairs = [ScoredTextPair(*r) for r in _hub_rows(cfg, 3)]
    elif cfg.train_file == DEMO:
        if not _demo_path(DEMO_SCORED).is_file():
            raise UserInputError("--mode scored has no embedded demo pairs: give --train-file (STS-B train tsv, a SICK file, "
                                 "or a csv/tsv with sentence1, sentence2, score)")
        pairs = read_scored_pairs(_demo_path(DEMO_SCORED))
    else:
        pairs = read_scored_pairs(cfg.train_file)
    samples = normalise_scores(pairs, tuple(cfg.score_range) if cfg.score_range else None)
    if cfg.max_train_samples:
        samples = samples[: cfg.max_train_samples]
    return samples


def _hub_rows(cfg: Config, width: int) -> list[tuple]:
    import datasets

    name, _, split = cfg.train_dataset.partition(":")
    try:
        data = datasets.load_dataset(name, split=split or "train")
    except Exception as err:  # the hub raises many kinds; the message matters more
        raise RuntimeError(f"could not load dataset {cfg.train_dataset!r} (offline?): {err}. Use --train-file with a local file.") from err
    columns = list(cfg.dataset_columns or data.column_names[:width])
    missing = [c for c in columns if c not in data.column_names]
    if missing:
        raise ValueError(f"dataset {name!r} has no columns {missing}; it has {data.column_names}")
    return [(str(r[0]), str(r[1]), float(r[2])) for r in zip(*(data[c] for c in columns))]


def _samples_from_hub(cfg: Config) -> list[TextSample]:
    import datasets

    name, _, split = cfg.train_dataset.partition(":")
    try:
        data = datasets.load_dataset(name, split=split or "train")
    except Exception as err:  # the hub raises many kinds; the message matters more
        raise RuntimeError(f"could not load dataset {cfg.train_dataset!r} (offline?): {err}. Use --train-file with a local file.") from err
    columns = list(cfg.dataset_columns or data.column_names[:3 if cfg.mode == "sup" else 1])
    missing = [c for c in columns if c not in data.column_names]
    if missing:
        raise ValueError(f"dataset {name!r} has no columns {missing}; it has {data.column_names}")
    rows = zip(*(data[c] for c in columns))
    if cfg.mode == "unsup":
        return [TextSample(r[0]) for r in rows if isinstance(r[0], str) and r[0].strip()]
    return [TextSample(r[0], positive=r[1], hard_negative=r[2] if len(r) > 2 else None) for r in rows]


def _evaluator_name(path: str) -> str:
    if path == DEMO:
        return "demo_sts"
    return re.sub(r"[^a-z0-9]+", "_", Path(path).stem.lower()).strip("_")


def scored_demo_dev(cfg: Config) -> list[str]:
    """``--dev-file demo`` in ``--mode scored`` means the demo's held-out scored pairs first, then
    the generic demo STS set (does the model keep its general similarity?)."""
    if cfg.mode != "scored":
        return list(cfg.dev_file)
    out: list[str] = []
    for path in cfg.dev_file:
        out.extend([str(_demo_path(DEMO_SCORED_DEV)), DEMO] if path == DEMO else [path])
    return out


def build_evaluators(paths: Sequence[str]) -> list[STSEvaluator]:
    evaluators, names = [], set()
    for path in paths:
        name = _evaluator_name(path)
        while name in names:
            name += "_2"
        names.add(name)
        evaluators.append(STSEvaluator.from_file(_demo_path("demo_sts.tsv") if path == DEMO else path, name=name))
    return evaluators


def evaluate_all(model: EmbeddingModel, evaluators: Sequence[STSEvaluator]) -> dict[str, float]:
    out: dict[str, float] = {}
    for evaluator in evaluators:
        out.update(evaluator(lambda texts: model.encode(texts, batch_size=128)))
    return out


def build_views(cfg: Config, samples: Sequence[TextSample], cache_dir: Path) -> list[Any]:
    views = []
    for name in cfg.views:
        if name == "back_translation":
            if not (cfg.bt_forward_model and cfg.bt_backward_model):
                raise ValueError("the back_translation view needs --bt-forward-model and --bt-backward-model (MarianMT folders)")
            from multicl.views.back_translation import BackTranslationConfig, BackTranslator

            translator = BackTranslator(
                BackTranslationConfig(forward_model=cfg.bt_forward_model, backward_model=cfg.bt_backward_model, device="cuda" if torch.cuda.is_available() and cfg.device != "cpu" else "cpu"),
                cache_dir=cache_dir,
            )
            views.append(build_text_view(name, translations=translator.translation_table([s.text for s in samples])))
        else:
            views.append(build_text_view(name, aug_p=cfg.view_prob))
    return views


def build_miner(cfg: Config, samples: Sequence[TextSample], adapter: TextAdapter, mask_paraphrases: bool, out_dir: Path):
    """The hard-negative miner. sup: queries are the anchors, the corpus every training sentence
    plus ``--mine-corpus``, each anchor's positive anchors the NV-Retriever ratio and known
    paraphrases are excluded; unsup: the anchors are the corpus and their own positives."""
    from multicl.negatives.miner import HardNegativeMiner, MinerConfig, corpus_from_dataset

    policy = FalseNegativePolicy(same_label=mask_paraphrases, max_positive_ratio=cfg.mine_max_positive_ratio)
    config = MinerConfig(num_negatives=cfg.mine_negatives, rank_window=tuple(cfg.mine_rank_window),
                         refresh_every=cfg.mine_refresh_every, embed_batch_size=128, seed=cfg.seed)
    if cfg.mode != "sup":
        corpus, meta = corpus_from_dataset(samples, adapter)
        return HardNegativeMiner(corpus, adapter, corpus_meta=meta, policy=policy, log_dir=out_dir, config=config)
    extra = [t for path in cfg.mine_corpus for t in read_sentences(path)]
    data = pair_mining_data(samples, extra)
    print(f"[text_simcse] mining hard negatives for {len(data.queries)} anchors among {len(data.corpus)} sentences "
          f"({len(extra)} from --mine-corpus), refreshed every {cfg.mine_refresh_every or 'never'} steps")
    return HardNegativeMiner(data.corpus, adapter, corpus_meta=data.corpus_meta, queries=data.queries, query_meta=data.query_meta,
                             positive_ids=data.positive_ids, policy=policy, log_dir=out_dir, config=config)


def main(cfg: Config) -> dict[str, float]:
    """Run the recipe; return the metrics also written to ``out_dir/metrics.json``."""
    out_dir, run_identity = prepare_out_dir(cfg)  # refuses a folder holding another configuration
    wall_start = time.perf_counter()

    read_counts: dict[str, int] = {}
    samples = load_training_samples(cfg, read_counts)
    check_batch_fits(len(samples), cfg.batch_size, cfg.train_dataset or cfg.train_file)
    dev = build_evaluators(scored_demo_dev(cfg))
    test = build_evaluators(cfg.test_file)
    adapter_cls = ScoredPairAdapter if cfg.mode == "scored" else TextAdapter
    adapter = adapter_cls.from_pretrained(
        cfg.model, max_length=cfg.max_length, pooling=cfg.pooling, dropout=cfg.dropout,
        views=build_views(cfg, samples, out_dir / "cache") if cfg.mode == "unsup" else None,
    )
    encoder = adapter.build_encoder()
    head = build_head(cfg.head, encoder.embed_dim)
    objective_name = cfg.objective if cfg.objective != "auto" else ("cosent" if cfg.mode == "scored" else "info_nce")
    if objective_name == "info_nce":
        objective = build_objective("info_nce", temperature=cfg.temperature, learnable_temperature=cfg.learnable_temperature)
    else:
        objective = build_objective(objective_name)
    if cfg.matryoshka_dims:
        if max(cfg.matryoshka_dims) > encoder.embed_dim:
            raise UserInputError(f"--matryoshka-dims {max(cfg.matryoshka_dims)} exceeds the model's embedding size {encoder.embed_dim}")
        objective = build_objective("matryoshka", objective=objective, dims=tuple(cfg.matryoshka_dims))
    mask_paraphrases = cfg.mode == "sup" and cfg.mask_known_paraphrases
    if mask_paraphrases:
        samples = label_by_paraphrase_cluster(samples)
    policy = FalseNegativePolicy(same_label=mask_paraphrases)
    miner = build_miner(cfg, samples, adapter, mask_paraphrases, out_dir) if cfg.mine_negatives else None
    if cfg.mode == "scored":
        from multicl.train.scored import ScoredPairLearner

        learner = ScoredPairLearner(encoder, objective, head=head)
    else:
        learner = ContrastiveLearner(encoder, objective, head=head, policy=policy, miner=miner)
    device = "cuda" if (cfg.device in ("auto", "cuda") and torch.cuda.is_available()) else "cpu"

    def as_model(enc) -> EmbeddingModel:
        return EmbeddingModel(enc, adapter.tokenizer, max_length=cfg.eval_max_length, device=next(enc.parameters()).device)

    print(f"[text_simcse] {len(samples)} training samples ({cfg.mode}), model {cfg.model}, device {device}")
    before = evaluate_all(EmbeddingModel(encoder, adapter.tokenizer, cfg.eval_max_length, device=device), dev + test)

    trainer_cfg = TrainerConfig(
        out_dir=str(out_dir),
        max_steps=cfg.max_steps,
        batch_size=cfg.batch_size,
        learning_rate=cfg.learning_rate,
        warmup_ratio=cfg.warmup_ratio,
        precision=cfg.precision,
        device=cfg.device,
        eval_every=cfg.eval_every,
        eval_at_start=cfg.keep_initial_if_better,
        save_every=cfg.eval_every,
        seed=cfg.seed,
        num_workers=cfg.num_workers,
        resume=cfg.resume,
        overwrite=cfg.overwrite,
    )
    dataset = ViewsDataset(samples, adapter, seed=cfg.seed)
    trainer = Trainer(
        learner,
        dataset,
        adapter.collate,
        trainer_cfg,
        evaluate=lambda enc: evaluate_all(as_model(enc), dev),
        primary_metric=dev[0].primary_metric,
        save_best=lambda lrn, folder: as_model(lrn.encoder).save(folder),
        run_identity=run_identity,
    )
    summary = trainer.train()
    if summary["resumed_from_step"] >= cfg.max_steps:
        print(f"[text_simcse] {out_dir} already holds a finished run of {cfg.max_steps} steps; its model is reported below. "
              f"Use another --out-dir or --overwrite to train again.")

    best_dir = out_dir / "best"
    final_dir = out_dir / "model"
    # replaced atomically: a crash mid-copy leaves the previous model/ intact; the card records the run
    import dataclasses
    import shutil

    from multicl.models.card import ModelCard, write_card
    from multicl.models.folder import read_meta

    def write_final(folder: Path) -> None:
        if best_dir.exists():
            shutil.copytree(best_dir, folder, dirs_exist_ok=True)
        else:
            as_model(learner.encoder).save(folder)
        write_card(folder, read_meta(folder), ModelCard.from_run("text_simcse", dataclasses.asdict(cfg), run_identity,
                                                                 {f"before_{k}": v for k, v in before.items()}))

    replace_directory(write_final, final_dir)
    trained = EmbeddingModel.load(final_dir, device=device)
    after = evaluate_all(trained, dev + test)

    metrics: dict[str, float] = {f"before_{k}": v for k, v in before.items()}
    metrics.update({f"after_{k}": v for k, v in after.items()})
    metrics.update(
        train_seconds=summary["train_seconds"],
        train_samples_per_second=summary["samples_per_second"],
        best_step=summary["best_step"] if summary["best_step"] is not None else cfg.max_steps,
        wall_seconds=time.perf_counter() - wall_start,
    )
    metrics.update({f"train_{k}": float(v) for k, v in read_counts.items()})  # blank lines skipped, NLI rows dropped
    atomic_write_json(out_dir / "metrics.json", metrics)
    records = read_metrics(out_dir)
    plot_training_curve(records, out_dir / "training_curve.png", eval_key=dev[0].primary_metric)

    # dev sets were scored by the trainer at the last step; test sets only before and after
    rows = [[k.replace("_spearman_cosine", ""), before[k], summary.get(f"final_{k}", "-"), after[k], after[k] - before[k]]
            for k in before if k.endswith("spearman_cosine")]
    print("\nSTS Spearman x100 (cosine); 'after' is the kept model (best on the first dev file):")
    print(format_table(rows, ["set", "before", "last step", "after", "delta"]))
    if metrics["best_step"] == 0:
        print("no training step beat the starting model on the first dev file, so the starting model was kept")
    print(f"\nbest step {metrics['best_step']}, train {summary['train_seconds']:.0f}s "
          f"({summary['samples_per_second']:.1f} samples/s), wall {metrics['wall_seconds']:.0f}s; outputs in {out_dir}/")
    return metrics




def cli(argv: list[str] | None = None) -> dict[str, float]:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # weight loading/saving bars drown the recipe's own output
    return run_cli(main, Config, argv, __doc__.split("\n\n")[0], check=check_args)


if __name__ == "__main__":
    raise SystemExit(console_main(cli))
