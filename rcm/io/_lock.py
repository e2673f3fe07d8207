"""Advisory file locks (``flock``) that tell a live writer from one that is gone.

A lock is held by an open file, not by a process id, so it ends when its holder
ends, however it ends (kill -9 included): a lock that can be taken means nobody
holds it. The semantics are those of the file system: exact on a local disk,
and on NFS where the client and server support locking (Linux NFS clients map
``flock`` to byte-range locks, seen by every client). Where ``fcntl`` does not
exist (Windows), no lock is ever held and nothing is ever swept.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None  # type: ignore[assignment]


class LockHeld(Exception):
    """The lock is held by another open file; `holder` is what its holder wrote in it."""

    def __init__(self, path: Path, holder: str) -> None:
        self.path, self.holder = path, holder
        super().__init__(f"{path} is locked by {holder or 'another process'}")


def this_process() -> str:
    """Who holds a lock this process takes, as written in the lock file."""
    host = os.uname().nodename if hasattr(os, "uname") else "this host"
    return f"pid {os.getpid()} on {host}"


def _try_flock(fd: int) -> bool:
    if fcntl is None:  # pragma: no cover - not POSIX
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


@contextlib.contextmanager
def held_lock(path: Path, holder: str = "", *, remove: bool = True) -> Iterator[None]:
    """Hold an exclusive lock on the file `path` (created) for the block.

    Args:
        path: The lock file.
        holder: Written into the file, so a refused caller can say who holds it.
        remove: Delete the file when the block ends (still holding the lock).

    Raises:
        LockHeld: If another open file holds it.

    """
    fd = _locked_fd(path)
    try:
        if holder:
            os.ftruncate(fd, 0)
            os.write(fd, holder.encode())
        yield
    finally:
        if remove:
            path.unlink(missing_ok=True)
        os.close(fd)


def _locked_fd(path: Path) -> int:
    """An open, locked descriptor of the file now at `path`.

    A sweeper may unlink a lock file between our open and our lock; then the lock
    is on a file nobody else can find, so open the new one and try again.
    """
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        if not _try_flock(fd):
            os.close(fd)
            raise LockHeld(path, _holder(path))
        try:
            same = os.path.samestat(os.fstat(fd), path.stat())
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)


def _holder(path: Path) -> str:
    try:
        return path.read_text(errors="replace").strip()
    except OSError:
        return ""


@contextlib.contextmanager
def unless_locked(path: Path) -> Iterator[bool]:
    """Whether the lock file `path` is free (missing, or nobody holds it), holding it if so.

    Yields True while holding the lock (or when the file does not exist), False when
    another open file holds it; the file is removed at the end when it was taken.
    """
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        yield True
        return
    try:
        free = _try_flock(fd)
        yield free
        if free:
            path.unlink(missing_ok=True)
    finally:
        os.close(fd)
