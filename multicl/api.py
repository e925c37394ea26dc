"""EmbeddingModel: one saved model and one API for every modality (text, table, audio, series).

    >>> model = EmbeddingModel.load("runs/security/model")      # any folder a recipe wrote, or a text model id
    >>> model.modality, model.embed_dim                          # ("table", 64)
    >>> emb = model.encode(frame)                                # numpy (N, 64), unit norm
    >>> index = model.index(frame)                               # exact below 20k rows, hnswlib above
    >>> ids, scores = index.search(new_rows, k=10)

Each modality takes its natural input: a list of strings; a pandas DataFrame or a CSV/parquet
path; a list of audio file paths or ``(array, sample_rate)`` pairs; a list of ``(T, C)`` arrays.
Text folders stay sentence-transformers folders (``SentenceTransformer(path)`` loads them).
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from multicl.encoders.text import TextEncoder, load_backbone, resolve_text_model
from multicl.models.card import ModelCard
from multicl.models.folder import (
    META_FILE, NotAModelError, check_model_folder, fingerprint, load_non_text, looks_like_path, missing_model_error, read_meta, reader_for_adapter,
    write_model,
)
from multicl.models.index import EmbeddingIndex, is_embeddings
from multicl.models.readers import TextReader
from multicl.utils.io import replace_directory

logger = logging.getLogger(__name__)


def _default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _encoder_device(encoder: torch.nn.Module) -> torch.device | None:
    tensor = next(iter(encoder.parameters()), None)
    return tensor.device if tensor is not None else None


class EmbeddingModel:
    """An encoder plus what it needs to read raw input of its modality.

    ``EmbeddingModel(encoder, tokenizer, max_length)`` wraps a text encoder (as before);
    ``EmbeddingModel(encoder, reader)`` any modality; :meth:`from_adapter` builds one from a
    training adapter. ``device``: where it runs; default the encoder's own device (for a live
    encoder), else CUDA when available.
    """

    def __init__(self, encoder: torch.nn.Module, tokenizer_or_reader: Any, max_length: int = 256,
                 device: str | torch.device | None = None, normalize: bool = True) -> None:
        self.encoder = encoder
        self.reader = tokenizer_or_reader if hasattr(tokenizer_or_reader, "modality") else TextReader(tokenizer_or_reader, max_length)
        self.normalize_default = bool(normalize)
        self.device = torch.device(device) if device is not None else (_encoder_device(encoder) or _default_device())
        self.encoder.to(self.device)

    @classmethod
    def from_adapter(cls, adapter: Any, encoder: torch.nn.Module, device: str | torch.device | None = None) -> "EmbeddingModel":
        """The model a recipe saves: its trained ``encoder`` and the input settings of ``adapter``
        (tokenizer, fitted table preprocessing, sample rate, series channels and normalisation)."""
        return cls(encoder, reader_for_adapter(adapter, encoder), device=device)

    # -- what it is ----------------------------------------------------------------------------
    @property
    def modality(self) -> str:
        return self.reader.modality

    @property
    def embed_dim(self) -> int:
        return int(self.encoder.embed_dim)

    @property
    def tokenizer(self):
        return getattr(self.reader, "tokenizer", None)

    @property
    def max_length(self) -> int | None:
        return getattr(self.reader, "max_length", None)

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the modality, input settings and weights: an index records the model that built it."""
        return fingerprint(self.encoder, self.reader)

    def __repr__(self) -> str:
        return f"EmbeddingModel(modality={self.modality!r}, encoder={type(self.encoder).__name__}, embed_dim={self.embed_dim}, device={self.device})"

    def to(self, device: str | torch.device) -> "EmbeddingModel":
        self.device = torch.device(device)
        self.encoder.to(self.device)
        return self

    # -- load / save -----------------------------------------------------------------------------
    @classmethod
    def load(cls, path_or_name: str | Path | None = None, pooling: str | None = None, max_length: int | None = None,
             device: str | torch.device | None = None) -> "EmbeddingModel":
        """Load a folder written by :meth:`save` (any modality; a recipe's ``out_dir/model``), a
        sentence-transformers or transformers folder, a hub id, or (``None`` / ``"all-MiniLM-L6-v2"``)
        the packaged all-MiniLM-L6-v2. ``pooling`` / ``max_length`` override a text model's own."""
        local = Path(path_or_name) if path_or_name is not None else None
        looks_local = local is not None and local.expanduser().exists()
        local = local.expanduser() if looks_local else local
        if local is not None and not looks_local and (isinstance(path_or_name, Path) or looks_like_path(str(path_or_name))):
            raise missing_model_error(str(path_or_name))  # a mistyped path: never a hub lookup
        if looks_local:
            check_model_folder(local)
        meta = read_meta(local) if looks_local else None
        if meta is not None and meta["modality"] != "text":
            encoder, reader = load_non_text(local, meta)
            return cls(encoder, reader, device=device or _default_device(), normalize=meta.get("normalize", True))
        return cls._load_text(path_or_name, pooling, max_length, device)

    @classmethod
    def _load_text(cls, path_or_name, pooling, max_length, device) -> "EmbeddingModel":
        from transformers import AutoTokenizer

        path = resolve_text_model(path_or_name)
        meta = _read_text_metadata(Path(path)) if Path(path).is_dir() else {}
        pooling = pooling or meta.get("pooling", "mean")
        max_length = max_length or meta.get("max_length", 256)
        try:
            tokenizer = AutoTokenizer.from_pretrained(path)
        except OSError as err:
            where = "" if Path(path).is_dir() else f" (no local folder {str(Path(path).absolute())!r}, so it was taken for a hub id)"
            raise FileNotFoundError(f"could not load a tokenizer from {path!r}{where}: {err}") from err
        except ValueError as err:  # transformers' "install sentencepiece or tiktoken" when no tokenizer file is usable
            raise NotAModelError(f"{path}: no usable tokenizer files in it (tokenizer.json, vocab.txt, ...); save the tokenizer "
                                 f"beside the weights (tokenizer.save_pretrained(path)), or point at a recipe's out_dir/model. "
                                 f"transformers said: {str(err).splitlines()[0]}") from None
        encoder = TextEncoder(load_backbone(path), pooling=pooling)
        encoder.eval()
        return cls(encoder, tokenizer, max_length=max_length, device=device or _default_device())

    def save(self, path: str | Path, normalize: bool = True, card: ModelCard | None = None) -> Path:
        """Write the model folder atomically (temp folder + swap; a failure leaves ``path`` as it
        was). Text: a folder ``SentenceTransformer(path)`` loads, same embeddings. ``card``: the
        recipe, configuration, data fingerprints and metrics for the folder's README.md."""
        return replace_directory(lambda folder: write_model(folder, self.encoder, self.reader, normalize, card), Path(path))

    # -- encode ----------------------------------------------------------------------------------
    @torch.no_grad()
    def encode(self, inputs: Any, batch_size: int = 64, normalize: bool = True, device: str | torch.device | None = None,
               show_progress_bar: bool | None = None, precision: str = "fp32", truncate_dim: int | None = None) -> np.ndarray:
        """Raw inputs of the model's modality -> float32 numpy (N, embed_dim).

        text: a list of strings (empty strings embed the empty input, as in sentence-transformers);
        table: a DataFrame or a CSV/TSV/parquet path; audio: file paths or ``(array, sample_rate)``
        pairs; series: ``(T, C)`` arrays. Items are batched in length order (less padding); the
        output keeps the input order. ``device``: run there (the model moves; default: its own
        device). ``show_progress_bar``: ``None`` shows one for more than 10 batches.
        ``precision="bf16"`` / ``"fp16"`` runs under autocast. ``truncate_dim=d`` keeps the first
        ``d`` coordinates (a Matryoshka-trained model's prefix), normalised after truncation.
        """
        if truncate_dim is not None and not 0 < int(truncate_dim) <= self.embed_dim:
            raise ValueError(f"truncate_dim must be in 1..{self.embed_dim} (the embedding size), got {truncate_dim}")
        dim = self.embed_dim if truncate_dim is None else int(truncate_dim)
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        if precision not in ("fp32", "bf16", "fp16"):
            raise ValueError(f"precision must be fp32, bf16 or fp16; got {precision!r}")
        if device is not None and torch.device(device) != self.device:
            self.to(device)
        prepared = self.reader.prepare(inputs)
        out = np.zeros((prepared.count, dim), dtype=np.float32)
        if prepared.count == 0:
            return out
        order = np.argsort(-prepared.lengths, kind="stable") if prepared.lengths is not None else np.arange(prepared.count)
        starts = range(0, prepared.count, batch_size)
        show = len(starts) > 10 if show_progress_bar is None else show_progress_bar
        dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
        was_training = self.encoder.training
        self.encoder.eval()
        try:
            for start in tqdm(starts, desc="encode", disable=not show):
                rows = order[start : start + batch_size]
                batch = self.reader.batch(prepared, rows)
                batch = batch.to(self.device) if hasattr(batch, "to") and not isinstance(batch, dict) else {k: v.to(self.device) for k, v in batch.items()}
                with torch.autocast(self.device.type, dtype=dtype, enabled=dtype is not None):
                    emb = self.encoder(batch).float()[:, :dim]
                if normalize:
                    emb = torch.nn.functional.normalize(emb, dim=-1)
                out[rows] = emb.cpu().numpy()
        finally:
            self.encoder.train(was_training)
        return out

    def similarity(self, a: Any, b: Any) -> np.ndarray:
        """Cosine similarities (len(a), len(b)) between raw inputs or precomputed embeddings."""
        ea = self._embeddings(a, "a")
        eb = self._embeddings(b, "b")
        ea = ea / np.clip(np.linalg.norm(ea, axis=1, keepdims=True), 1e-12, None)
        eb = eb / np.clip(np.linalg.norm(eb, axis=1, keepdims=True), 1e-12, None)
        return ea @ eb.T

    def _embeddings(self, x: Any, what: str) -> np.ndarray:
        if is_embeddings(x):
            x = np.asarray(x, dtype=np.float32)
            if x.shape[1] != self.embed_dim:
                raise ValueError(f"{what}: embeddings of dim {x.shape[1]}, this model's are {self.embed_dim}-d; "
                                 f"pass raw inputs or embeddings from this model")
            return x
        return self.encode(x)

    # -- index / search ------------------------------------------------------------------------------
    def index(self, corpus: Any, ids: Any = None, backend: str = "auto", batch_size: int = 64, **index_args: Any) -> EmbeddingIndex:
        """An index over ``corpus`` (raw inputs, or this model's embeddings as a 2-D array) for
        :meth:`EmbeddingIndex.search`. ``ids``: one per row (ints or strings; default 0..N-1).
        ``backend``: ``auto`` (exact up to 20,000 vectors, hnswlib above: the crossover measured on
        CPU), ``exact`` or ``hnsw``; ``index_args`` go to the backend (``M``, ``ef_construction``, ``ef``)."""
        index = EmbeddingIndex(self.embed_dim, model_fingerprint=self.fingerprint, modality=self.modality,
                               backend=backend, **index_args)
        index.model = self
        index.add(corpus, ids, batch_size=batch_size)
        return index

    def load_index(self, path: str | Path) -> EmbeddingIndex:
        """:meth:`EmbeddingIndex.load` checked against this model (the one that built it)."""
        return EmbeddingIndex.load(path, model=self)


def _read_text_metadata(path: Path) -> dict:
    """Pooling and max length from multicl.json, or from a sentence-transformers folder."""
    import json

    ours = path / META_FILE
    if ours.exists():
        meta = json.loads(ours.read_text())
        return {"pooling": meta.get("pooling", meta.get("encoder", {}).get("args", {}).get("pooling")),
                "max_length": meta.get("max_length", meta.get("input", {}).get("max_length"))}
    meta: dict = {}
    bert_config = path / "sentence_bert_config.json"
    if bert_config.exists():
        meta["max_length"] = json.loads(bert_config.read_text()).get("max_seq_length", 256)
    modules = path / "modules.json"
    if modules.exists():
        for module in json.loads(modules.read_text()):
            kind = module.get("type", "")
            if kind.endswith("Pooling") and "Weighted" not in kind:
                config = json.loads((path / module["path"] / "config.json").read_text())
                mode = config.get("pooling_mode")
                if mode is None:
                    mode = "cls" if config.get("pooling_mode_cls_token") else "mean" if config.get("pooling_mode_mean_tokens") else None
                if mode not in ("mean", "cls"):
                    raise ValueError(f"{path}: pooling {config} is not supported by EmbeddingModel; load it with sentence-transformers")
                meta["pooling"] = "cls_before_pooler" if mode == "cls" else "mean"
            elif kind.endswith(("Dense", "WeightedLayerPooling")):
                raise ValueError(f"{path}: module {kind} without multicl.json is not supported by EmbeddingModel; load it with sentence-transformers")
    return meta
