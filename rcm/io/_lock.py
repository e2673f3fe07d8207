"""Advisory file locks (``flock``) that tell a live writer from one that is gone.

A lock is held by an open file, not by a process id, so it ends when its holder
ends, however it ends (kill -9 included): a lock that can be taken means nobody
holds it. The locks this process holds are also kept in a registry, so a sweep
in this process skips them without opening their files. Between processes the
semantics are those of the file system: exact on a local disk. Linux NFS
clients emulate ``flock`` with POSIX byte-range locks, seen by every client
where the server supports locking, but per process; the registry makes the
same-process case exact there too. Where the file system refuses locks
(ENOLCK), or ``fcntl`` does not exist (Windows), writers go on unlocked and
nothing is ever swept. Where locks are only local to each machine (NFS mounted
``nolock``), a partial whose writer is alive on another machine may be swept.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None  # type: ignore[assignment]

# (st_dev, st_ino) of the lock files this process holds.
_HELD: set[tuple[int, int]] = set()
_HELD_GUARD = threading.Lock()


class LockHeld(Exception):
    """The lock is held by another open file; `holder` is what its holder wrote in it."""

    def __init__(self, path: Path, holder: str) -> None:
        self.path, self.holder = path, holder
        super().__init__(f"{path} is locked by {holder or 'another process'}")


def this_process() -> str:
    """Who holds a lock this process takes, as written in the lock file."""
    host = os.uname().nodename if hasattr(os, "uname") else "this host"
    return f"pid {os.getpid()} on {host}"


def _key(stat: os.stat_result) -> tuple[int, int]:
    return stat.st_dev, stat.st_ino


def _flock(fd: int, *, wait: bool = False) -> bool:
    """Take the exclusive lock of `fd` (waiting for it if `wait`); False if it is held."""
    if fcntl is None:  # pragma: no cover - not POSIX: nothing is locked
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
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
    fd = _locked_fd(path, wait_if_created=remove)
    key = _key(os.fstat(fd))
    with _HELD_GUARD:
        _HELD.add(key)
    try:
        if holder:
            os.ftruncate(fd, 0)
            os.write(fd, holder.encode())
        yield
    finally:
        if remove:
            path.unlink(missing_ok=True)
        with _HELD_GUARD:
            _HELD.discard(key)
        os.close(fd)


def _locked_fd(path: Path, *, wait_if_created: bool) -> int:
    """An open, locked descriptor of the file now at `path`.

    A lock file this call created (and that is removed after use, a partial's) can
    only be held by a sweeper, for a moment: wait for it. The sweeper then unlinks
    it, so the lock is on a file nobody else can find: open the new one and retry.
    """
    while True:
        try:
            fd, created = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644), True
        except FileExistsError:
            fd, created = os.open(path, os.O_RDWR), False
        try:
            stat = os.fstat(fd)
            with _HELD_GUARD:
                ours = _key(stat) in _HELD
            if ours or not _writer_flock(fd, wait=created and wait_if_created):
                raise LockHeld(path, _holder(path))
            try:
                same = os.path.samestat(stat, path.stat())
            except FileNotFoundError:
                same = False
        except BaseException:
            os.close(fd)
            raise
        if same:
            return fd
        os.close(fd)


def _writer_flock(fd: int, *, wait: bool) -> bool:
    """`_flock` for a writer: where the file system refuses locks (ENOLCK), go on unlocked.

    Sweepers there cannot lock either, so they keep every partial.
    """
    try:
        return _flock(fd, wait=wait)
    except OSError:
        return True


def _holder(path: Path) -> str:
    try:
        return path.read_text(errors="replace").strip()
    except OSError:
        return ""


@contextlib.contextmanager
def unless_locked(path: Path) -> Iterator[bool]:
    """Whether the lock file `path` is free (missing, or nobody holds it), holding it if so.

    Yields True while holding the lock (or when the file does not exist), False when
    it is held (by another open file, or by this process), cannot be opened or
    locked (another user's), or locks do not exist here; the file is removed at the
    end when it was taken.
    """
    if fcntl is None:  # no locks, so no telling a live writer from a dead one
        yield False
        return
    try:
        with _HELD_GUARD:
            ours = _key(path.stat()) in _HELD
    except FileNotFoundError:
        yield True
        return
    except OSError:
        ours = True  # cannot even look at it: keep it
    fd = -1 if ours else _open_for_lock(path)
    if fd < 0:
        yield False
        return
    try:
        free = _try_lock(fd)
        yield free
        if free:
            with contextlib.suppress(OSError):
                path.unlink(missing_ok=True)
    finally:
        os.close(fd)


def _open_for_lock(path: Path) -> int:
    """`path` opened to write where allowed (NFS locks need it), else to read; -1 if neither."""
    for flags in (os.O_RDWR, os.O_RDONLY):
        try:
            return os.open(path, flags)
        except FileNotFoundError:
            return -1  # gone since: its sweeper removed it
        except OSError:
            continue
    return -1


def _try_lock(fd: int) -> bool:
    try:
        return _flock(fd)
    except OSError:  # cannot lock it (say, a read-only descriptor on NFS): keep it
        return False
