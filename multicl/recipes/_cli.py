"""Build an argparse parser from a frozen dataclass Config (one flag per field)."""
from __future__ import annotations

import argparse
import dataclasses
import typing
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


def start_run(cfg: Any) -> tuple[Any, str]:
    """What every recipe does first: log to the console, create ``out_dir/model``, write
    ``config.json`` and resolve ``device="auto"`` -> ``(out_dir, device)``."""
    import logging
    from pathlib import Path

    import torch

    from multicl.utils.io import atomic_write_json

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    out = Path(cfg.out_dir)
    (out / "model").mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "config.json", dataclasses.asdict(cfg))
    device = "cuda" if cfg.device == "auto" and torch.cuda.is_available() else ("cpu" if cfg.device == "auto" else cfg.device)
    return out, device
