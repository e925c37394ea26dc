"""Build an argparse parser from a frozen dataclass Config (one flag per field)."""
from __future__ import annotations

import argparse
import dataclasses
import typing
from pathlib import Path
from typing import Any


def parser_for(config_cls: type, description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    hints = typing.get_type_hints(config_cls)
    for field in dataclasses.fields(config_cls):
        flag = "--" + field.name.replace("_", "-")
        kind = hints[field.name]
        help_text = field.metadata.get("help", "")
        default = field.default if field.default is not dataclasses.MISSING else field.default_factory()
        args = typing.get_args(kind)
        if kind is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default, help=help_text)
        elif typing.get_origin(kind) is tuple:
            parser.add_argument(flag, nargs="*", type=_element_type(kind), default=default, help=help_text)
        elif args and type(None) in args:  # Optional[X]
            inner = next(a for a in args if a is not type(None))
            if typing.get_origin(inner) is tuple:
                parser.add_argument(flag, nargs="+", type=_element_type(inner), default=default, help=help_text)
            else:
                parser.add_argument(flag, type=inner, default=default, help=help_text)
        else:
            choices = field.metadata.get("choices")
            parser.add_argument(flag, type=kind, default=default, choices=choices, help=help_text)
    return parser


def _element_type(kind: Any) -> Any:
    args = [a for a in typing.get_args(kind) if a is not Ellipsis]
    return args[0] if args and args[0] in (int, float, str) else str


def config_from_args(config_cls: type, argv: list[str] | None, description: str) -> Any:
    namespace = parser_for(config_cls, description).parse_args(argv)
    values = {}
    for field in dataclasses.fields(config_cls):
        value = getattr(namespace, field.name)
        if isinstance(value, list):
            value = tuple(value)
        values[field.name] = value
    return config_cls(**values)


OVERWRITE_HELP = "delete out_dir's checkpoints and outputs and start at step 0 (else a folder holding another configuration is refused)"
KEEP_ON_OVERWRITE = ("cache",)  # reusable, configuration-independent caches (back-translations)


def prepare_out_dir(cfg: Any) -> tuple[Path, dict[str, Any]]:
    """Claim ``cfg.out_dir`` for this configuration, *then* write ``config.json``.

    The config's fingerprint (:func:`multicl.train.run_identity.config_fingerprint`: every
    setting but run length / logging / paths of outputs, plus size + SHA-256 of the data files and
    local model folders it names) is compared with the one stored in ``out_dir/run_identity.json``
    (or, for folders from before fingerprints, with their ``config.json``): the same one
    resumes; another one raises :class:`~multicl.train.run_identity.RunIdentityError` naming
    each change and the ways out (``--out-dir``, ``--overwrite``). ``cfg.overwrite`` (and
    ``cfg.resume=False``) clear the folder first, keeping only caches. Returns
    ``(out_dir, fingerprint)``; give the fingerprint to ``Trainer(run_identity=...)``.
    """
    import json

    from multicl.train.run_identity import RESUME_FREE_FIELDS, IDENTITY_FILE, claim_run_dir, config_fingerprint
    from multicl.utils.io import atomic_write_json

    values = dataclasses.asdict(cfg)
    out = Path(cfg.out_dir)
    identity = config_fingerprint(cfg)
    legacy = None
    if not (out / IDENTITY_FILE).exists() and (out / "config.json").exists():
        stored = json.loads((out / "config.json").read_text())
        legacy = {k: v for k, v in stored.items() if k not in RESUME_FREE_FIELDS}
    overwrite = bool(values.get("overwrite", False)) or values.get("resume", True) is False
    claim_run_dir(out, identity, overwrite=overwrite, legacy=legacy, keep=KEEP_ON_OVERWRITE)
    atomic_write_json(out / "config.json", values)
    return out, identity


def start_run(cfg: Any) -> tuple[Any, str]:
    """What every recipe does first: log to the console, claim ``out_dir`` for this
    configuration (:func:`prepare_out_dir`: refuses another run's folder, ``--overwrite`` clears
    it), write ``config.json``, create ``out_dir/model`` and resolve ``device="auto"`` ->
    ``(out_dir, device)``."""
    import logging

    import torch

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    out, _ = prepare_out_dir(cfg)
    (out / "model").mkdir(parents=True, exist_ok=True)
    device = "cuda" if cfg.device == "auto" and torch.cuda.is_available() else ("cpu" if cfg.device == "auto" else cfg.device)
    return out, device
