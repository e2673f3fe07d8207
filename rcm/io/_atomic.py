"""Outputs appear complete or not at all: write under a hidden temporary name, then rename."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rcm.errors import OutputError


def check_output(path: str | os.PathLike[str], *, overwrite: bool) -> Path:
    """Validate an output location before any work starts.

    Creates missing parent directories.

    Raises:
        OutputError: If it exists (without `overwrite`) or its directory cannot be
            created or written.

    """
    target = Path(path)
    if target.exists() and not overwrite:
        raise OutputError(path, "already exists (pass --overwrite to replace it)")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(path, f"cannot create its folder: {error.strerror or error}") from error
    if not os.access(target.parent, os.W_OK | os.X_OK):
        raise OutputError(path, "its folder is not writable")
    return target


@contextmanager
def atomic_output(path: str | os.PathLike[str], *, overwrite: bool) -> Iterator[Path]:
    """Yield a temporary sibling path; on success move it to `path`, on failure delete it.

    The temporary name starts with a dot and ends with ``.partial-<id>``, so an
    interrupted run never leaves anything that looks like a finished output.
    """
    target = check_output(path, overwrite=overwrite)
    partial = target.with_name(f".{target.name}.partial-{uuid.uuid4().hex[:12]}")
    try:
        yield partial
        if target.exists():  # overwrite: swap in the new one, then drop the old
            old = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:12]}")
            target.rename(old)
            partial.rename(target)
            _remove(old)
        else:
            partial.rename(target)
    except BaseException:
        _remove(partial)
        raise


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists():
        path.unlink()


@contextmanager
def atomic_file(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a hidden temporary sibling of the file `path`; on success it replaces `path`.

    The replacement is one ``os.replace``: readers, even in other processes, see
    the old file or the new one, never none or half of one. On failure the
    temporary file is removed and `path` is left as it was.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        yield partial
        partial.replace(target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
