"""Atomic file writes: write to a temporary file beside the target, fsync, then rename.

A crash or an exception mid-write never leaves a half-written file in place; the old
file, if any, stays intact until the new one is complete.

>>> import tempfile, os
>>> d = tempfile.mkdtemp()
>>> atomic_write_text(os.path.join(d, "a.txt"), "hello")
>>> open(os.path.join(d, "a.txt")).read()
'hello'
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from typing import IO, Any, Iterator


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb", encoding: str | None = None) -> Iterator[IO]:
    """Open a temporary file for writing; on success rename it onto `path`."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
    try:
        if "b" in mode:
            f = os.fdopen(fd, mode)
        else:
            f = os.fdopen(fd, mode, encoding=encoding or "utf-8", newline="")
        with f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> None:
    """Write `text` to `path` atomically."""
    with atomic_write(path, "w", encoding=encoding) as f:
        f.write(text)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write `data` to `path` atomically."""
    with atomic_write(path, "wb") as f:
        f.write(data)


def atomic_write_json(
    path: str | os.PathLike, obj: Any, indent: int | None = 2, trailing_newline: bool = False, **kwargs: Any
) -> None:
    """Serialize `obj` as JSON (UTF-8, non-ASCII kept) to `path` atomically."""
    kwargs.setdefault("ensure_ascii", False)
    text = json.dumps(obj, indent=indent, **kwargs)
    atomic_write_text(path, text + ("\n" if trailing_newline else ""))


def fsync_path(path: str | os.PathLike, *, quiet: bool = False) -> None:
    """fsync a file or folder by name (fsync flushes the file whichever descriptor asks), so that a later
    rename never exposes empty contents. `quiet=True` ignores OSError (folders on file systems that refuse
    it, files removed meanwhile).

    >>> import tempfile; fsync_path(tempfile.gettempdir(), quiet=True)
    """
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        if quiet:
            return
        raise
    try:
        os.fsync(fd)
    except OSError:
        if not quiet:
            raise
    finally:
        os.close(fd)


def replace_dir(staging: str | os.PathLike, final: str | os.PathLike) -> None:
    """Move the complete folder `staging` onto `final`, replacing a folder already there.

    The old folder is renamed aside (`<final>.old`) before the new one takes its name and deleted after,
    so `final` is never a half-deleted or half-written tree.

    >>> import tempfile, os
    >>> d = tempfile.mkdtemp()
    >>> os.makedirs(os.path.join(d, "new")); atomic_write_text(os.path.join(d, "new", "f"), "2")
    >>> os.makedirs(os.path.join(d, "out")); atomic_write_text(os.path.join(d, "out", "f"), "1")
    >>> replace_dir(os.path.join(d, "new"), os.path.join(d, "out"))
    >>> open(os.path.join(d, "out", "f")).read(), sorted(os.listdir(d))
    ('2', ['out'])
    """
    final = os.fspath(final)
    old = final + ".old"
    if os.path.exists(final):
        shutil.rmtree(old, ignore_errors=True)
        os.replace(final, old)
    os.replace(staging, final)
    shutil.rmtree(old, ignore_errors=True)

