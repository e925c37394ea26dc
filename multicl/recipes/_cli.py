"""Build an argparse parser from a frozen dataclass Config (one flag per field); check the
arguments before anything is loaded; run a recipe so that a user's mistake prints as one line.

:func:`run_cli` is every recipe's ``cli`` (it raises); :func:`console_main` is its
``__main__``: a :class:`~multicl.errors.UserInputError` (or any ``ValueError`` / missing file)
prints ``error: <one line>`` to stderr and exits with status 2, a traceback only with
``--debug`` (a flag, not a Config field); Ctrl-C says which checkpoint is kept and how to
resume (exit status 130).
"""
from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import typing
from pathlib import Path
from typing import Any, Callable

from multicl.errors import MissingColumnError, UserInputError

DEBUG_HELP = "show Python tracebacks (else a user error prints as one line and exits with status 2)"


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
    parser.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    return parser


def _element_type(kind: Any) -> Any:
    args = [a for a in typing.get_args(kind) if a is not Ellipsis]
    return args[0] if args and args[0] in (int, float, str) else str


def config_from_args(config_cls: type, argv: list[str] | None, description: str) -> Any:
    namespace = parser_for(config_cls, description).parse_args(argv)  # --debug is parsed and ignored here
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
    ``cfg.resume=False``) clear the folder first, keeping only caches. Also writes ``environment.json``
    (:func:`multicl.utils.environment.run_environment`: versions, CPU thread count). Returns
    ``(out_dir, fingerprint)``; give the fingerprint to ``Trainer(run_identity=...)``.
    """
    import json

    from multicl.train.run_identity import RESUME_FREE_FIELDS, IDENTITY_FILE, claim_run_dir, config_fingerprint
    from multicl.utils.environment import ENVIRONMENT_FILE, run_environment
    from multicl.utils.io import atomic_write_json

    check_config(cfg)  # before config.json is written: a refused run leaves no config describing no model
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
    # versions and thread count: on CPU the same seed repeats bit for bit only with the same thread count
    atomic_write_json(out / ENVIRONMENT_FILE, run_environment(values.get("device")))
    return out, identity


def start_run(cfg: Any) -> tuple[Any, str]:
    """What every recipe does first: log to the console, claim ``out_dir`` for this
    configuration (:func:`prepare_out_dir`: refuses another run's folder, ``--overwrite`` clears
    it), write ``config.json`` and ``environment.json``, create
    ``out_dir/model`` and resolve ``device="auto"`` -> ``(out_dir, device)``."""
    import logging

    import torch

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    out, _ = prepare_out_dir(cfg)
    (out / "model").mkdir(parents=True, exist_ok=True)
    device = "cuda" if cfg.device == "auto" and torch.cuda.is_available() else ("cpu" if cfg.device == "auto" else cfg.device)
    return out, device


# -- argument checks (before anything heavy is loaded) ---------------------------------------------
_AT_LEAST = {"max_steps": 0, "supervised_steps": 0, "finetune_steps": 0, "label_draws": 1, "knn_k": 1, "anomaly_k": 1,
             "eval_every": 0, "embed_dim": 1, "sample_rate": 1, "max_length": 1, "eval_max_length": 1, "clip_length": 2,
             "stride": 1, "eval_stride": 1, "test_takes": 0, "mine_negatives": 0, "num_workers": 0}
_POSITIVE = ("learning_rate", "temperature")
_FILE_FIELDS = ("train_file", "test_file", "dev_file", "data_dir", "test_dir")
DEMO = "demo"


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def check_config(cfg: Any) -> None:
    """Check a recipe config's values and input paths; raise :class:`UserInputError` with the fix.

    Checked by field name, so every recipe gets the same rules: ``batch_size`` >= 2 (in-batch
    negatives need another row), counts >= their minimum, ``learning_rate`` / ``temperature`` > 0,
    ``label_fractions`` in (0, 1], and every input file / folder named exists.
    """
    values = dataclasses.asdict(cfg)
    if "batch_size" in values and values["batch_size"] < 2:
        raise UserInputError(f"--batch-size {values['batch_size']}: contrastive training needs at least 2 rows per batch "
                             f"(the other rows are each row's negatives); use --batch-size 2 or more")
    for name, low in _AT_LEAST.items():
        value = values.get(name)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value < low:
            raise UserInputError(f"{_flag(name)} {value}: must be at least {low}")
    for name in _POSITIVE:
        value = values.get(name)
        if isinstance(value, (int, float)) and not (value > 0 and math.isfinite(value)):
            raise UserInputError(f"{_flag(name)} {value}: must be a positive number")
    for fraction in values.get("label_fractions") or ():
        if not 0 < fraction <= 1:
            raise UserInputError(f"--label-fractions {fraction}: each is a share of the training labels, in (0, 1] "
                                 f"(e.g. --label-fractions 0.01 0.1)")
    for name in _FILE_FIELDS:
        value = values.get(name)
        for path in (value if isinstance(value, tuple) else (value,)):
            if isinstance(path, str) and path and path != DEMO and not Path(path).expanduser().exists():
                raise UserInputError(f"{_flag(name)} {path}: no such file or folder (from {Path.cwd()}); check the path")


def check_batch_fits(count: int, batch_size: int, what: str) -> None:
    """A training set must fill one batch; the advice names a batch size that works."""
    if count < 2:
        raise UserInputError(f"{what}: {count} training sample(s); contrastive training needs at least 2 (add data)")
    if count < batch_size:
        raise UserInputError(f"{what}: {count} training samples, fewer than one batch of --batch-size {batch_size}; "
                             f"use --batch-size between 2 and {count}, or add data")


# -- running a recipe from the command line ---------------------------------------------------------
USER_ERRORS = (ValueError, FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError)


def one_line(err: BaseException) -> str:
    text = " ".join(str(err).split()) or type(err).__name__
    if isinstance(err, KeyError) and text.startswith(("'", '"')):
        text = text[1:-1]
    return text


def run_cli(main: Callable[[Any], Any], config_cls: type, argv: list[str] | None, description: str,
            check: Callable[[Any], None] | None = None) -> Any:
    """Every recipe's ``cli(argv)``: parse ``argv`` into ``config_cls``, check it (``check``: the
    recipe's own rules, then :func:`check_config`) before anything is loaded, run ``main``.
    Errors propagate (Python callers and tests see the exception); :func:`console_main` turns
    them into one line and an exit status. On Ctrl-C it prints where the last checkpoint is and
    how to resume, then re-raises."""
    namespace = parser_for(config_cls, description).parse_args(argv)
    cfg = config_cls(**{f.name: _tuple(getattr(namespace, f.name)) for f in dataclasses.fields(config_cls)})
    if check is not None:
        check(cfg)
    check_config(cfg)
    try:
        return main(cfg)
    except KeyboardInterrupt:
        print(interrupted_message(cfg), file=sys.stderr)
        raise


def console_main(cli: Callable[[list[str] | None], Any], argv: list[str] | None = None) -> int:
    """What ``python -m multicl.recipes.X`` runs: ``cli(argv)``; a user error prints
    ``error: <one line>`` on stderr and returns 2, Ctrl-C returns 130; ``--debug`` re-raises
    with the traceback. Use as ``raise SystemExit(console_main(cli))``."""
    argv = sys.argv[1:] if argv is None else list(argv)
    debug = "--debug" in argv
    try:
        cli(argv)
    except KeyboardInterrupt:
        if debug:
            raise
        return 130
    except (*USER_ERRORS, MissingColumnError) as err:
        if debug:
            raise
        print(f"error: {one_line(err)}", file=sys.stderr)
        print("(--debug shows the traceback)", file=sys.stderr)
        return 2
    return 0


def _tuple(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def interrupted_message(cfg: Any) -> str:
    """What Ctrl-C leaves: the newest checkpoint under ``out_dir`` and the command that resumes."""
    out = Path(getattr(cfg, "out_dir", "") or ".") if cfg is not None else None
    newest = None
    if out is not None and out.is_dir():
        candidates = [p for p in out.glob("**/checkpoints/*") if p.is_dir() and not p.name.startswith(".")]
        newest = max(candidates, key=lambda p: p.stat().st_mtime, default=None)
    where = f"the last checkpoint is {newest}" if newest else "no checkpoint was written yet"
    return (f"interrupted: {where}. Run the same command again to resume from it "
            f"(--overwrite starts over instead).")
