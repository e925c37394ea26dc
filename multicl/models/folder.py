"""One saved-model folder for every modality.

Layout (``multicl.json`` names the modality, so a loader never guesses)::

    multicl.json         {"format": 2, "modality": "table", "encoder": {"class", "args"}, "embed_dim",
                          "normalize", "input": {what the reader needs}, "weights", "fingerprint"}
    model.safetensors    the encoder's state dict (not text: see below)
    preprocessing.json   table: the fitted TablePreprocessor
    README.md            the model card (recipe, configuration, data fingerprints, metrics)

Text folders are sentence-transformers folders (``SentenceTransformer(path)`` loads them, same
embeddings) with ``multicl.json`` beside ``modules.json``; the backbone's weights are the
transformers ``model.safetensors``. A folder is written into a sibling temp folder and swapped in
(:func:`multicl.utils.io.replace_directory`): a failed save leaves the previous model intact.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from multicl.models.card import ModelCard, write_card
from multicl.models.encoders import build_encoder, describe_encoder, weights_of
from multicl.models.readers import AudioReader, SeriesReader, TableReader, TextReader

FORMAT = 2
META_FILE = "multicl.json"
WEIGHTS_FILE = "model.safetensors"
MODALITIES = ("text", "table", "audio", "series")


class NotAModelError(FileNotFoundError):
    """A path that holds no saved model."""


def fingerprint(encoder: torch.nn.Module, reader: Any) -> str:
    """SHA-256 of the modality, the reader's settings and every weight (in key order)."""
    digest = hashlib.sha256(json.dumps({"modality": reader.modality, "input": reader.config()}, sort_keys=True).encode())
    for key, value in sorted(encoder.state_dict().items()):
        t = value.detach().contiguous().cpu()
        digest.update(f"{key}:{t.dtype}:{tuple(t.shape)};".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()


def write_model(folder: Path, encoder: torch.nn.Module, reader: Any, normalize: bool, card: ModelCard | None) -> None:
    """Fill the empty ``folder`` (a temp folder: callers go through ``replace_directory``)."""
    from safetensors.torch import save_file

    was_training = encoder.training
    encoder.eval()
    try:
        if reader.modality == "text":
            from multicl.export.sentence_transformers import export_sentence_transformer

            export_sentence_transformer(encoder, reader.tokenizer, folder, reader.max_length, normalize)
            meta = json.loads((folder / META_FILE).read_text())
            meta.update(format=FORMAT, modality="text", embed_dim=int(encoder.embed_dim), input=reader.config(),
                        encoder={"class": type(encoder).__name__, "args": {"pooling": encoder.pooling}, "backbone": "model.safetensors"})
        else:
            name, args = describe_encoder(encoder)
            save_file(weights_of(encoder), str(folder / WEIGHTS_FILE))
            if hasattr(reader, "save_files"):
                reader.save_files(folder)
            meta = {"format": FORMAT, "modality": reader.modality, "encoder": {"class": name, "args": args},
                    "embed_dim": int(encoder.embed_dim), "normalize": bool(normalize), "input": reader.config(),
                    "weights": WEIGHTS_FILE, "fingerprint": fingerprint(encoder, reader)}
        (folder / META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
        write_card(folder, meta, card)
    finally:
        encoder.train(was_training)


def read_meta(path: Path) -> dict[str, Any] | None:
    """``multicl.json`` of a model folder; None for folders without one (sentence-transformers or
    transformers folders, which load as text)."""
    meta_path = path / META_FILE
    if not meta_path.exists():
        return None
    try:
        meta = json.loads(meta_path.read_text())
    except json.JSONDecodeError as err:
        raise NotAModelError(f"{meta_path} is not valid JSON ({err}): the folder is damaged; re-save the model") from None
    meta.setdefault("modality", "text")  # format 1: text only
    if meta["modality"] not in MODALITIES:
        raise ValueError(f"{meta_path}: modality {meta['modality']!r} is not one this multicl loads ({', '.join(MODALITIES)}); "
                         f"upgrade multicl")
    return meta


def check_model_folder(path: Path) -> None:
    """Raise :class:`NotAModelError` naming what is missing when ``path`` is not a model folder."""
    if not path.exists():
        raise NotAModelError(f"no model at {path}: give a folder written by EmbeddingModel.save (a recipe's out_dir/model), "
                             f"a sentence-transformers folder, or a hub id")
    if not path.is_dir():
        raise NotAModelError(f"{path} is a file, not a model folder; give the folder that holds multicl.json "
                             f"(a recipe writes it to out_dir/model)")
    markers = [META_FILE, "modules.json", "config.json"]
    if not any((path / m).exists() for m in markers):
        found = sorted(p.name for p in path.iterdir())[:8]
        hint = " (it looks like a run folder: the model is in its model/ subfolder)" if (path / "model").is_dir() else ""
        raise NotAModelError(f"{path} is not a saved model: none of {markers} in it (found {found}){hint}; "
                             f"save one with EmbeddingModel.save(path) or point at a recipe's out_dir/model")


def load_non_text(path: Path, meta: dict[str, Any]) -> tuple[torch.nn.Module, Any]:
    from safetensors.torch import load_file

    weights = path / meta.get("weights", WEIGHTS_FILE)
    if not weights.exists():
        raise NotAModelError(f"{path}: the weights file {weights.name} named in {META_FILE} is missing; re-save the model")
    encoder = build_encoder(meta["encoder"]["class"], meta["encoder"]["args"])
    try:
        state = load_file(str(weights))
    except Exception as err:  # safetensors raises its own error types on damaged files
        raise ValueError(f"{weights}: unreadable weights ({err}): truncated or overwritten; re-save the model") from None
    try:
        encoder.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise ValueError(f"{weights} does not fit the encoder described in {META_FILE}: {str(err)[:500]}") from None
    encoder.eval()
    reader = make_reader(path, meta)
    stored = meta.get("fingerprint")
    if stored and fingerprint(encoder, reader) != stored:
        raise ValueError(f"{path}: the weights or input settings differ from those saved (fingerprint mismatch): "
                         f"the folder was edited or damaged; re-save the model")
    return encoder, reader


def make_reader(path: Path, meta: dict[str, Any]) -> Any:
    modality, config = meta["modality"], meta.get("input", {})
    if modality == "table":
        return TableReader.load(path, config)
    if modality == "audio":
        return AudioReader(config["sample_rate"], config.get("frontend"))
    if modality == "series":
        norm = config["normalisation"]
        return SeriesReader(config["channels"], norm["center"], norm["scale"])
    raise ValueError(f"no reader for modality {modality!r}")


def reader_for_adapter(adapter: Any, encoder: torch.nn.Module) -> Any:
    """The reader matching a training adapter (what a recipe saves with its encoder)."""
    from multicl.modalities.audio import AudioAdapter
    from multicl.modalities.sequence import SequenceAdapter
    from multicl.modalities.tabular import TabularAdapter
    from multicl.modalities.text import TextAdapter

    if isinstance(adapter, TextAdapter):
        return TextReader(adapter.tokenizer, adapter.max_length)
    if isinstance(adapter, TabularAdapter):
        return TableReader(adapter.preprocessor)
    if isinstance(adapter, AudioAdapter):
        frontend = getattr(encoder, "frontend", None)
        settings = {"n_mels": adapter.n_mels, "cmvn": adapter.cmvn}
        if frontend is not None:
            settings = {"n_mels": frontend.n_mels, "cmvn": frontend.cmvn, "n_fft": frontend.n_fft, "hop_length": frontend.hop,
                        "log_mel": "log(mel + 1e-6)"}
        return AudioReader(adapter.sample_rate, settings)
    if isinstance(adapter, SequenceAdapter):
        if adapter.frames:
            raise TypeError("video frame models (T, C, H, W) have no saved-model format yet; save the encoder's state dict")
        return SeriesReader(adapter.channels, np.asarray(adapter.center).tolist(), np.asarray(adapter.scale).tolist())
    raise TypeError(f"no saved-model format for {type(adapter).__name__}; known: TextAdapter, TabularAdapter, AudioAdapter, SequenceAdapter")
