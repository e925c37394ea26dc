"""Run identity: a run *is* its configuration, fingerprinted and stored with its outputs.

A fingerprint is a flat JSON dict: every setting of the run's config dataclass that decides
its result (those in :data:`RESUME_FREE_FIELDS` may change between a run and its resume and are
left out), plus, for every setting whose value names an existing file or folder (data files, a
local model folder), a ``"<field> (content)"`` entry with its size and a SHA-256: of the whole
file below 64 MiB, of its first and last MiB plus its size above. A hub id stays a plain string.

:func:`claim_run_dir` is what the trainer and the recipes call before writing anything:

    nothing stored yet           -> the fingerprint is written; the run starts
    the same fingerprint stored  -> the run resumes
    another fingerprint stored   -> :class:`RunIdentityError` naming each change
                                    (``key: old -> new``) and the two ways out: another
                                    out dir, or ``overwrite`` (clears the folder's outputs)
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any, Iterable, Mapping

from multicl.utils.io import atomic_write_json

logger = logging.getLogger(__name__)

IDENTITY_FILE = "run_identity.json"
FULL_HASH_BELOW = 64 * 2**20  # files smaller than this are hashed whole
SAMPLE_BYTES = 2**20  # bigger ones: their first and last MiB (+ the size)
FOLDER_FULL_HASH_BELOW = 256 * 2**20  # folders above this total hash every file by samples

# Settings that may legitimately change between a run and its resume (run length, logging,
# where outputs go, how fast it runs); every other setting is part of the run's identity.
RESUME_FREE_FIELDS = frozenset({
    "max_steps", "resume", "overwrite", "progress_bar", "eval_every", "eval_at_start", "log_every",
    "save_every", "keep_checkpoints", "num_workers", "tensorboard", "out_dir", "compile",
    "find_unused_parameters",
})
_ABSENT = "<absent>"


class RunIdentityError(ValueError):
    """An output folder holds a run with another configuration."""


def file_digest(path: Path, sample: bool | None = None) -> str:
    """SHA-256 of a file: whole below :data:`FULL_HASH_BELOW`, else size + first + last MiB."""
    size = path.stat().st_size
    sample = size >= FULL_HASH_BELOW if sample is None else sample and size > 2 * SAMPLE_BYTES
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        if not sample:
            for chunk in iter(lambda: handle.read(4 * 2**20), b""):
                digest.update(chunk)
        else:
            digest.update(f"size={size};".encode())
            digest.update(handle.read(SAMPLE_BYTES))
            handle.seek(size - SAMPLE_BYTES)
            digest.update(handle.read(SAMPLE_BYTES))
    return digest.hexdigest()


def path_fingerprint(path: str | os.PathLike, skip: Path | None = None) -> str:
    """``"size=… sha256=…"`` of a file, ``"files=… bytes=… sha256=…"`` of a folder (every file
    below it by relative path, size and digest; ``skip``: a folder inside it to leave out)."""
    path = Path(path)
    if path.is_file():
        return f"size={path.stat().st_size} sha256={file_digest(path)}"
    files: list[tuple[str, Path]] = []
    skip_resolved = skip.resolve() if skip is not None else None
    for root, dirs, names in os.walk(path):
        root_path = Path(root)
        if skip_resolved is not None:
            dirs[:] = [d for d in dirs if (root_path / d).resolve() != skip_resolved]
        dirs.sort()
        files.extend((str((root_path / n).relative_to(path)), root_path / n) for n in sorted(names))
    total = sum(p.stat().st_size for _, p in files)
    sample = total >= FOLDER_FULL_HASH_BELOW
    digest = hashlib.sha256()
    for rel, file in files:
        digest.update(f"{rel}\0{file.stat().st_size}\0{file_digest(file, sample=sample or None)}\n".encode())
    return f"files={len(files)} bytes={total} sha256={digest.hexdigest()}"


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _path_values(value: Any) -> Iterable[tuple[str, str]]:
    if isinstance(value, str):
        yield "", value
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            if isinstance(item, str):
                yield f"[{i}]", item


def config_fingerprint(config: Any, exclude: Iterable[str] = RESUME_FREE_FIELDS) -> dict[str, Any]:
    """The fingerprint of a config dataclass (or a mapping of its fields); see the module doc."""
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        values = dataclasses.asdict(config)
    elif isinstance(config, Mapping):
        values = dict(config)
    else:
        raise TypeError(f"config_fingerprint takes a config dataclass or a mapping, got {type(config).__name__}")
    excluded = set(exclude)
    out_dir = Path(values["out_dir"]) if isinstance(values.get("out_dir"), str) else None
    fingerprint: dict[str, Any] = {}
    for key in sorted(values):
        if key in excluded:
            continue
        value = values[key]
        fingerprint[key] = _jsonable(value)
        for suffix, text in _path_values(value):
            candidate = Path(text).expanduser()
            if text.strip() and candidate.exists():
                fingerprint[f"{key}{suffix} (content)"] = path_fingerprint(candidate, skip=out_dir)
    return fingerprint


def _flatten(identity: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in identity.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(_flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def identity_changes(stored: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """``["key: old -> new", ...]`` for every entry that differs (sorted by key)."""
    old, new = _flatten(_jsonable(dict(stored))), _flatten(_jsonable(dict(current)))
    changes = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key, _ABSENT), new.get(key, _ABSENT)
        if a != b:
            changes.append(f"{key}: {_short(a)} -> {_short(b)}")
    return changes


def _short(value: Any, limit: int = 100) -> str:
    text = value if value == _ABSENT else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def mismatch_message(folder: Path, changes: list[str], what: str = "run") -> str:
    listed = "\n".join(f"  {c}" for c in changes[:20]) + (f"\n  ... and {len(changes) - 20} more" if len(changes) > 20 else "")
    return (
        f"{folder} holds a {what} with another configuration; resuming it would mix two experiments. "
        f"What changed (stored -> now):\n{listed}\n"
        f"Either write this run to a new folder (--out-dir NEW_FOLDER; out_dir=... in Python), or start over "
        f"in this one with --overwrite (overwrite=True), which deletes its checkpoints and outputs."
    )


def load_identity(folder: str | os.PathLike) -> dict[str, Any] | None:
    path = Path(folder) / IDENTITY_FILE
    if not path.exists():
        return None
    return json.loads(path.read_text())


def write_identity(folder: str | os.PathLike, identity: Mapping[str, Any]) -> None:
    atomic_write_json(Path(folder) / IDENTITY_FILE, _jsonable(dict(identity)))


def check_identity(folder: str | os.PathLike, identity: Mapping[str, Any], stored: Mapping[str, Any] | None = None, what: str = "run") -> None:
    """Raise :class:`RunIdentityError` when ``folder`` (or ``stored``) holds another fingerprint."""
    stored = load_identity(folder) if stored is None else stored
    if stored is None:
        return
    changes = identity_changes(stored, identity)
    if changes:
        raise RunIdentityError(mismatch_message(Path(folder), changes, what))


def clear_outputs(folder: str | os.PathLike, names: Iterable[str] | None = None, keep: Iterable[str] = ()) -> list[str]:
    """Delete ``names`` inside ``folder`` (None: everything but ``keep``); return what went.

    With ``names=None`` the folder must look like a run folder (it holds a run identity, a
    ``config.json`` or ``checkpoints/``): an ``--overwrite`` pointed at the wrong place must not
    empty it.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    if names is None:
        markers = (IDENTITY_FILE, "config.json", "checkpoints", "trainer_config.json")
        entries = list(folder.iterdir())
        if entries and not any((folder / m).exists() for m in markers):
            raise RunIdentityError(
                f"--overwrite would delete everything in {folder}, which does not look like a multicl run folder "
                f"(no {IDENTITY_FILE}, config.json or checkpoints/); pick another --out-dir"
            )
        keep = set(keep)
        targets = [p for p in entries if p.name not in keep]
    else:
        targets = [folder / n for n in names if (folder / n).exists() or (folder / n).is_symlink()]
    for path in targets:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    return sorted(p.name for p in targets)


def claim_run_dir(
    folder: str | os.PathLike,
    identity: Mapping[str, Any],
    overwrite: bool = False,
    legacy: Mapping[str, Any] | None = None,
    clear: Iterable[str] | None = None,
    keep: Iterable[str] = (),
    what: str = "run",
) -> str:
    """Check ``folder`` against ``identity``, then record it; returns ``"new"``, ``"resume"`` or ``"overwritten"``.

    Args:
        legacy: for folders written before fingerprints existed, a fingerprint rebuilt from what
            they stored (e.g. their ``config.json``), compared on the keys both have.
        overwrite: clear the folder's outputs (``clear``: those names; None: all but ``keep``)
            and start fresh, whatever it held.
    """
    folder = Path(folder)
    if overwrite:
        removed = clear_outputs(folder, clear, keep)
        if removed:
            logger.warning("overwrite: removed %s from %s", ", ".join(removed), folder)
        state = "overwritten"
    else:
        stored = load_identity(folder)
        if stored is not None:
            check_identity(folder, identity, stored, what)
            state = "resume"
        elif legacy is not None:
            shared = {k: v for k, v in identity.items() if k in legacy}
            check_identity(folder, shared, {k: v for k, v in legacy.items() if k in shared}, what)
            state = "resume"
        else:
            state = "new"
    folder.mkdir(parents=True, exist_ok=True)
    write_identity(folder, identity)
    return state
