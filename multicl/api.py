"""EmbeddingModel: load, encode, compare, save (sentence-transformers compatible)."""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from multicl.encoders.text import TextEncoder, load_backbone, resolve_text_model
from multicl.modalities.text import check_texts
from multicl.utils.io import atomic_directory

logger = logging.getLogger(__name__)


def _default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class EmbeddingModel:
    """A trained (or pre-trained) text embedding model.

    >>> model = EmbeddingModel.load("all-MiniLM-L6-v2")          # the packaged offline model
    >>> emb = model.encode(["a cat sits", "a dog runs"])           # numpy (2, 384), unit norm
    >>> model.similarity(["a cat sits"], ["a kitten sits"])         # numpy (1, 1) cosine
    >>> model.save("my-model")   # SentenceTransformer("my-model") loads it, same embeddings
    """

    def __init__(self, encoder: TextEncoder, tokenizer, max_length: int = 256, device: str | torch.device | None = None) -> None:
        self.encoder = encoder
        self.tokenizer = tokenizer
        self.max_length = int(max_length)
        self.device = torch.device(device) if device is not None else _default_device()
        self.encoder.to(self.device)

    @property
    def embed_dim(self) -> int:
        return self.encoder.embed_dim

    @classmethod
    def load(
        cls,
        path_or_name: str | Path | None = None,
        pooling: str | None = None,
        max_length: int | None = None,
        device: str | torch.device | None = None,
    ) -> "EmbeddingModel":
        """Load a multicl / sentence-transformers folder, a transformers model folder or hub id,
        or (``None`` / ``"all-MiniLM-L6-v2"``) the packaged all-MiniLM-L6-v2.

        Pooling and max length come from the folder's metadata unless given.
        """
        from transformers import AutoTokenizer

        path = resolve_text_model(path_or_name)
        meta = _read_metadata(Path(path)) if Path(path).is_dir() else {}
        pooling = pooling or meta.get("pooling", "mean")
        max_length = max_length or meta.get("max_length", 256)
        try:
            tokenizer = AutoTokenizer.from_pretrained(path)
        except OSError as err:
            raise FileNotFoundError(f"could not load a tokenizer from {path!r}: {err}") from err
        encoder = TextEncoder(load_backbone(path), pooling=pooling)
        encoder.eval()
        return cls(encoder, tokenizer, max_length=max_length, device=device)

    @torch.no_grad()
    def encode(
        self,
        texts: Sequence[str],
        batch_size: int = 64,
        normalize: bool = True,
        show_progress_bar: bool = False,
        precision: str = "fp32",
    ) -> np.ndarray:
        """Texts -> float32 array (N, D). Empty strings are allowed (they embed the empty
        input, as in sentence-transformers); ``None`` or non-strings raise ``TypeError``.

        Texts are tokenised once and batched by length, so padding is minimal.
        ``precision="bf16"`` runs the encoder under bf16 autocast (CPU with AMX, or CUDA).
        """
        texts = check_texts(texts)
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        if precision not in ("fp32", "bf16", "fp16"):
            raise ValueError(f"precision must be fp32, bf16 or fp16; got {precision!r}")
        if not texts:
            return np.zeros((0, self.embed_dim), dtype=np.float32)
        was_training = self.encoder.training
        self.encoder.eval()
        encoded = self.tokenizer(texts, truncation=True, max_length=self.max_length, padding=False)
        lengths = np.array([len(ids) for ids in encoded["input_ids"]])
        order = np.argsort(-lengths, kind="stable")
        out = np.empty((len(texts), self.embed_dim), dtype=np.float32)
        dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
        try:
            for start in tqdm(range(0, len(texts), batch_size), desc="encode", disable=not show_progress_bar):
                idx = order[start : start + batch_size]
                features = self.tokenizer.pad(
                    {k: [encoded[k][i] for i in idx] for k in encoded.keys()}, return_tensors="pt"
                )
                features = {k: v.to(self.device) for k, v in features.items()}
                with torch.autocast(self.device.type, dtype=dtype, enabled=dtype is not None):
                    emb = self.encoder(features).float()
                if normalize:
                    emb = torch.nn.functional.normalize(emb, dim=-1)
                out[idx] = emb.cpu().numpy()
        finally:
            self.encoder.train(was_training)
        return out

    def similarity(self, a: Sequence[str] | np.ndarray, b: Sequence[str] | np.ndarray) -> np.ndarray:
        """Cosine similarities (len(a), len(b)) between texts or precomputed embeddings."""
        ea = a if isinstance(a, np.ndarray) else self.encode(a)
        eb = b if isinstance(b, np.ndarray) else self.encode(b)
        ea = ea / np.clip(np.linalg.norm(ea, axis=1, keepdims=True), 1e-12, None)
        eb = eb / np.clip(np.linalg.norm(eb, axis=1, keepdims=True), 1e-12, None)
        return ea @ eb.T

    def save(self, path: str | Path, normalize: bool = True) -> Path:
        """Write a folder ``SentenceTransformer(path)`` loads, atomically (temp folder + rename)."""
        from multicl.export.sentence_transformers import export_sentence_transformer

        path = Path(path)
        was_training = self.encoder.training
        self.encoder.eval()
        try:
            with atomic_directory(path) as tmp:
                export_sentence_transformer(self.encoder, self.tokenizer, tmp, self.max_length, normalize)
        finally:
            self.encoder.train(was_training)
        return path


def _read_metadata(path: Path) -> dict:
    """Pooling and max length from multicl.json, or from a sentence-transformers folder."""
    ours = path / "multicl.json"
    if ours.exists():
        return json.loads(ours.read_text())
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
