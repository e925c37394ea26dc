"""Atomic file and folder writes: a reader never sees a half-written output.

Outputs get the permissions the umask gives (files 0666 & ~umask, folders 0777 & ~umask), as a
plain ``open``/``mkdir`` would: ``mkstemp``/``mkdtemp`` create owner-only temp files, so they
are chmod'ed before the rename (a serving account or a teammate can then read a model).
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Union

# ``replace_directory``'s source: a folder to copy, or a function that writes into the folder it is given
DirectorySource = Union[str, os.PathLike, Callable[[Path], Any]]


def current_umask() -> int:
    """The process umask (read by setting it and putting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _chmod_tree(root: Path) -> None:
    """Give ``root`` and everything below it the umask's default modes (folders 0777, files 0666 & ~umask).
    Files keep their execute bits if they had them; links are left alone."""
    mask = current_umask()
    os.chmod(root, 0o777 & ~mask)
    for folder, dirs, files in os.walk(root):
        for name in dirs:
            path = os.path.join(folder, name)
            if not os.path.islink(path):
                os.chmod(path, 0o777 & ~mask)
        for name in files:
            path = os.path.join(folder, name)
            if not os.path.islink(path):
                executable = os.stat(path).st_mode & 0o111
                os.chmod(path, (0o777 if executable else 0o666) & ~mask)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` through a temp file in the same folder + ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~current_umask())  # mkstemp made it 0600
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def _swap_in(tmp: Path, dest: Path) -> None:
    """Put the complete folder ``tmp`` at ``dest`` with renames only.

    Two renames when ``dest`` exists: dest -> ``.dest.old-XXXX``, tmp -> dest; then the old copy
    is removed. A crash between the renames leaves the old copy recoverable under the ``.old``
    name, never a half-written folder under ``dest``.
    """
    old = None
    if dest.exists() or dest.is_symlink():
        old = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.old-"))
        old.rmdir()  # only the unique name is wanted: os.replace needs the target absent for a folder
        os.replace(dest, old)
    try:
        os.replace(tmp, dest)
    except BaseException:
        if old is not None:
            os.replace(old, dest)  # put the old folder back
        raise
    if old is not None:
        if old.is_dir() and not old.is_symlink():
            shutil.rmtree(old, ignore_errors=True)
        else:
            old.unlink()


@contextmanager
def atomic_directory(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temp folder beside ``path``; on success it replaces ``path`` (see :func:`replace_directory`).

    On an exception the temp folder is removed and ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    try:
        _chmod_tree(tmp)  # mkdtemp made it 0700; what the writer put inside keeps the umask's modes too
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _swap_in(tmp, path)


def replace_directory(source: DirectorySource, dest: str | os.PathLike) -> Path:
    """Replace the folder ``dest`` by a new one, atomically.

    ``source`` is an existing folder (copied) or a writer ``writer(folder)`` that fills the
    empty folder it is given. The new folder is built in a sibling temp folder (same file
    system, so the final step is a rename) and swapped in: ``dest -> .dest.old-XXXX``,
    ``tmp -> dest``, then the old copy is removed. If copying or the writer fails, ``dest`` is
    left exactly as it was and the temp folder is removed. Returns ``dest``.
    """
    dest = Path(dest)
    if not callable(source):
        src = Path(source)
        if not src.is_dir():
            raise FileNotFoundError(f"replace_directory: source folder {src} does not exist")
        if src.resolve() == dest.resolve():
            return dest  # replacing a folder by itself: nothing to do
    with atomic_directory(dest) as tmp:
        if callable(source):
            source(tmp)
        else:
            shutil.copytree(src, tmp, dirs_exist_ok=True)
    return dest
