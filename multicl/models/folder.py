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
from multicl.models.readers import AudioReader, GraphReader, SeriesReader, TableReader, TextReader

FORMAT = 2
META_FILE = "multicl.json"
WEIGHTS_FILE = "model.safetensors"
MODALITIES = ("text", "table", "audio", "series", "graph")


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


DETECTOR_FILE = "detector.json"  # an anomaly detector of multicl.recipes.security_anomaly: not an embedding model
MODEL_FOLDER_HELP = ("a model folder holds multicl.json + model.safetensors (written by EmbeddingModel.save; a recipe "
                     "writes one to out_dir/model), or is a sentence-transformers / transformers folder (modules.json or a "
                     "config.json with model_type, tokenizer files, weights)")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "vocab.json", "spiece.model", "sentencepiece.bpe.model",
                   "tokenizer.model")


RUN_WORDS = frozenset({"runs", "run", "out", "outputs", "output", "model", "best", "checkpoints", "pretrain", "tmp"})


def looks_like_path(name: str) -> bool:
    """Whether ``name`` is meant as a local path rather than a hub id: it starts with ``.``, ``/``
    or ``~``, has a backslash, a trailing separator or more than one ``/`` (hub ids are ``name`` or
    ``owner/name``), its first part is a folder here (``runs/best`` beside an existing ``runs/``), or
    a part is a word of run folders (``runs``, ``out``, ``model``, ``best``, ...), which no hub id uses."""
    text = str(name)
    if text.startswith((".", "/", "~")) or "\\" in text or text.endswith("/") or text.count("/") > 1:
        return True
    if "/" in text:
        owner, name = text.split("/", 1)
        return Path(owner).is_dir() or owner.lower() in RUN_WORDS or name.lower() in RUN_WORDS
    return False


def _nearest_existing(path: Path) -> Path | None:
    for parent in path.absolute().parents:
        if parent.is_dir():
            return parent
    return None


def missing_model_error(name: str) -> "NotAModelError":
    """The error for a path that does not exist: the path, where it was looked for, the nearest
    folder that does exist and what is in it, and what a model folder contains."""
    path = Path(name).expanduser()
    where = path if path.is_absolute() else path.absolute()
    near = _nearest_existing(path)
    listing = ""
    if near is not None:
        entries = sorted(p.name + ("/" if p.is_dir() else "") for p in near.iterdir())
        listing = f"; {near} exists and holds {entries[:10]}{' ...' if len(entries) > 10 else ''}"
    return NotAModelError(f"no model at {name!r}: {where} does not exist (not looked up on the hub: it is a path){listing}; "
                          f"{MODEL_FOLDER_HELP}")


def _run_folder_hint(path: Path) -> str:
    """Where the model of a run or checkpoint folder is, when one is near."""
    for folder in (path, *path.parents[:3]):
        if (folder / "model" / META_FILE).exists() or (folder / "model" / "modules.json").exists():
            return f"; the run's model is {folder / 'model'}"
        if (folder / "best" / META_FILE).exists():
            return f"; the run's best model is {folder / 'best'}"
    return ""


def _is_transformers_config(path: Path) -> bool:
    try:
        config = json.loads((path / "config.json").read_text())
    except (OSError, ValueError):
        return False
    return isinstance(config, dict) and ("model_type" in config or "architectures" in config)


def check_model_folder(path: Path) -> None:
    """Raise :class:`NotAModelError` naming what is missing when ``path`` is not a model folder:
    a run folder, a training checkpoint, a recipe's config.json folder, a transformers folder
    without tokenizer files each get their own message (never a tokenizer library's)."""
    if not path.exists():
        raise missing_model_error(str(path))
    if not path.is_dir():
        raise NotAModelError(f"{path} is a file, not a model folder; give the folder that holds multicl.json "
                             f"(a recipe writes it to out_dir/model)")
    if (path / META_FILE).exists() or (path / "modules.json").exists():
        return
    found = sorted(p.name for p in path.iterdir())[:8]
    if (path / DETECTOR_FILE).exists():
        raise NotAModelError(f"{path} is an anomaly detector saved by security_anomaly ({DETECTOR_FILE}; found {found}), not an "
                             f"embedding model: score rows with multicl.recipes.security_anomaly.load_detector({str(path)!r})(frame)")
    if (path / "trainer_state.json").exists() or path.name == "checkpoints":
        raise NotAModelError(f"{path} is a training checkpoint (found {found}), not a saved model: a recipe resumes from it when "
                             f"run again with the same --out-dir{_run_folder_hint(path)}; {MODEL_FOLDER_HELP}")
    if (path / "config.json").exists() and _is_transformers_config(path):
        if not any((path / name).exists() for name in TOKENIZER_FILES):
            raise NotAModelError(f"{path} has a transformers config.json but no tokenizer files (none of {list(TOKENIZER_FILES[:4])}; "
                                 f"found {found}): save the tokenizer beside it (tokenizer.save_pretrained(path)){_run_folder_hint(path)}")
        return
    hint = " (it looks like a run folder: the model is in its model/ subfolder)" if (path / "model").is_dir() else ""
    what = "its config.json is a run's configuration, not a transformers one; " if (path / "config.json").exists() else ""
    raise NotAModelError(f"{path} is not a saved model: none of [{META_FILE!r}, 'modules.json', a transformers 'config.json'] in it "
                         f"(found {found}){hint}; {what}{MODEL_FOLDER_HELP}{_run_folder_hint(path) if not hint else ''}")


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
    if modality == "graph":
        return GraphReader(config["level"], config["in_dim"])
    raise ValueError(f"no reader for modality {modality!r}")


def reader_for_adapter(adapter: Any, encoder: torch.nn.Module) -> Any:
    """The reader matching a training adapter (what a recipe saves with its encoder)."""
    from multicl.modalities.audio import AudioAdapter
    from multicl.modalities.graph import GraphAdapter
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
    if isinstance(adapter, GraphAdapter):
        return GraphReader(adapter.mode, adapter.in_dim)
    raise TypeError(f"no saved-model format for {type(adapter).__name__}; known: TextAdapter, TabularAdapter, AudioAdapter, SequenceAdapter, "
                    f"GraphAdapter")
