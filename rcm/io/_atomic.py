"""Outputs appear complete or not at all: write under a hidden temporary name, then rename.

The writer of a partial holds a lock beside it (``.NAME.partial-ID.lock``, see
`rcm.io._lock`) for as long as it writes, so a later writer of the same output
removes the partials of writers that are gone (killed) and never those of one
still writing. The final rename refuses to replace an output that appeared
meanwhile (unless overwriting): checking and renaming are one step, except on
a file system with neither a no-replace rename nor hard links (some FUSE and
SMB mounts), where a check just before the rename is all there is. Writing
that fails because the disk is full, over quota or read-only is an
`OutputError` naming the output (or the other file it names); the partial is
removed.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import hashlib
import os
import re
import shutil
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from rcm.errors import OutputError
from rcm.io._lock import held_lock, this_process, unless_locked

# Failures of the place written to, whichever file was being written at the time.
_OUTPUT_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS})
_EXISTS = "already exists (pass --overwrite to replace it)"
# os.link failing so: the file system has no hard links (or refuses them here).
_NO_LINKS = frozenset({errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK, errno.EXDEV})
# A no-replace rename failing so: this file system does not support it.
_NO_FLAG = frozenset({errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP})


def check_output(path: str | os.PathLike[str], *, overwrite: bool) -> Path:
    """Validate an output location before any work starts.

    Creates missing parent directories.

    Raises:
        OutputError: If it exists (without `overwrite`) or its directory cannot be
            created or written.

    """
    target = Path(path)
    if target.exists() and not overwrite:
        raise OutputError(path, _EXISTS)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(path, f"cannot create its folder: {error.strerror or error}") from error
    if not os.access(target.parent, os.W_OK | os.X_OK):
        raise OutputError(path, "its folder is not writable")
    return target


def output_failure(
    path: str | os.PathLike[str], error: OSError, within: Path
) -> OutputError | None:
    """The `OutputError` an `OSError` raised while writing `path` means, or None (another fault).

    The one rule: any error naming a file under `within` (the partial being
    written, or its lock) is the output's. No space, over quota, a file too large
    or a read-only file system is the output's when it names no file, and else
    names the file it names (a full scratch folder is not the output's fault).
    """
    reason = f"cannot be written: {error.strerror or error}"
    named = error.filename
    if isinstance(named, str | bytes | os.PathLike):
        file = Path(os.fsdecode(named))
        if _inside(file, within) or _beside(file, within):
            return OutputError(path, reason)
        return OutputError(file, reason) if error.errno in _OUTPUT_ERRNOS else None
    return OutputError(path, reason) if error.errno in _OUTPUT_ERRNOS else None


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _beside(path: Path, partial: Path) -> bool:
    """Whether `path` is a sibling named after `partial` (its lock, its ``.old``)."""
    return path.parent == partial.parent and path.name.startswith(f"{partial.name}.")


@contextmanager
def output_errors(path: str | os.PathLike[str], within: Path | None = None) -> Iterator[None]:
    """Raise an `OSError` of the block that `output_failure` names as that `OutputError`."""
    inside = within or Path(path)
    try:
        yield
    except OutputError as error:  # a nested output's: named by the one the user asked for
        if error.path is None or not _inside(Path(error.path), inside):
            raise
        raise OutputError(path, error.reason) from error
    except OSError as error:
        failure = output_failure(path, error, inside)
        if failure is None:
            raise
        raise failure from error


@contextmanager
def atomic_output(path: str | os.PathLike[str], *, overwrite: bool) -> Iterator[Path]:
    """Yield a temporary sibling path; on success move it to `path`, on failure delete it.

    The temporary name starts with a dot and ends with ``.partial-<id>``, so an
    interrupted run never leaves anything that looks like a finished output.
    Partials of `path` whose writers are gone are removed first.

    Raises:
        OutputError: If `path` exists (without `overwrite`), appeared while writing
            (without `overwrite`), or cannot be written (disk full, read-only).

    """
    target = check_output(path, overwrite=overwrite)
    sweep_partials(target)
    partial = target.with_name(f".{target.name}.partial-{uuid.uuid4().hex[:12]}")
    with output_errors(path, partial), held_lock(_lock_of(partial), this_process()):
        try:
            yield partial
            _publish(partial, target, overwrite=overwrite)
        except BaseException:
            _remove(partial)
            raise


def sweep_partials(target: Path) -> list[Path]:
    """Remove the hidden partials of `target` whose writers are gone; return them.

    A partial is kept while its writer holds its lock, whichever process or machine
    that is (with locking file systems).
    """
    own = re.compile(re.escape(f".{target.name}.partial-") + r"[0-9a-f]{12}(?=(\.lock|\.old)?$)")
    try:
        found = [own.match(entry.name) for entry in os.scandir(target.parent)]
    except OSError:
        return []
    stems = {match.group(0) for match in found if match}
    removed = []
    for stem in sorted(stems):
        partial = target.with_name(stem)
        with suppress(OSError), unless_locked(_lock_of(partial)) as free:
            if free:
                _remove(partial)
                _remove(_old_of(partial))
                removed.append(partial)
    return removed


def _lock_of(partial: Path) -> Path:
    return partial.with_name(f"{partial.name}.lock")


def _old_of(partial: Path) -> Path:
    return partial.with_name(f"{partial.name}.old")


def _publish(partial: Path, target: Path, *, overwrite: bool) -> None:
    """Rename `partial` to `target`; an output that appeared meanwhile only if overwriting."""
    try:
        rename_new(partial, target)
        return
    except FileExistsError:
        if not overwrite:
            raise OutputError(target, _EXISTS) from None
    old = _old_of(partial)  # swept with the partial should this process die here
    target.rename(old)
    try:
        rename_new(partial, target)
    except FileExistsError:
        with suppress(OSError):
            rename_new(old, target)
        raise OutputError(target, "was written by another run at the same time") from None
    _remove(old)


def rename_new(source: Path, target: Path) -> None:
    """Rename `source` to `target` in one step that fails if `target` exists.

    Even an empty folder at `target` (which a plain POSIX rename of a folder
    replaces) raises `FileExistsError`. Linux ``renameat2(RENAME_NOREPLACE)`` or
    macOS ``renamex_np(RENAME_EXCL)`` where the file system supports it; otherwise
    a hard link for files, and for folders a ``mkdir`` that claims the name before
    the rename replaces that empty folder. A file system without hard links gets a
    check just before a plain rename: not one step, the best it allows.
    """
    if _no_replace is not None and _no_replace(os.fsencode(source), os.fsencode(target)):
        return
    if not source.is_dir():
        try:
            os.link(source, target)  # FileExistsError if it exists
        except OSError as error:
            if error.errno not in _NO_LINKS:
                raise
            if os.path.lexists(target):
                raise FileExistsError(
                    errno.EEXIST, os.strerror(errno.EEXIST), str(target)
                ) from None
            source.rename(target)
            return
        source.unlink()
        return
    target.mkdir()  # FileExistsError if it exists
    try:
        source.rename(target)
    except BaseException:
        with suppress(OSError):
            target.rmdir()
        raise


def _load_no_replace() -> Callable[[bytes, bytes], bool] | None:
    """The system's no-replace rename as ``call(source, target) -> done``, or None."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    except OSError:
        return None
    if sys.platform.startswith("linux") and hasattr(libc, "renameat2"):
        at_cwd, flag = -100, 1  # AT_FDCWD, RENAME_NOREPLACE
        function = libc.renameat2

        def call(source: bytes, target: bytes) -> int:
            return int(function(at_cwd, source, at_cwd, target, flag))
    elif sys.platform == "darwin" and hasattr(libc, "renamex_np"):
        function = libc.renamex_np

        def call(source: bytes, target: bytes) -> int:
            return int(function(source, target, 0x4))  # RENAME_EXCL
    else:
        return None
    return _checked_no_replace(call)


def _checked_no_replace(call: Callable[[bytes, bytes], int]) -> Callable[[bytes, bytes], bool]:
    """`call` (a C rename: 0, or -1 and errno) as ``no_replace(source, target) -> done``."""

    def no_replace(source: bytes, target: bytes) -> bool:
        if call(source, target) == 0:
            return True
        code = ctypes.get_errno()
        if code in _NO_FLAG:
            return False  # not supported by this file system: the fallback
        # Named by the source (the partial): whatever failed, it is the output's.
        raise OSError(code, os.strerror(code), os.fsdecode(source), None, os.fsdecode(target))

    return no_replace


_no_replace = _load_no_replace()


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink(missing_ok=True)


@contextmanager
def atomic_file(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a hidden temporary sibling of the file `path`; on success it replaces `path`.

    The replacement is one ``os.replace``: readers, even in other processes, see
    the old file or the new one, never none or half of one. On failure the
    temporary file is removed and `path` is left as it was. The first write to a
    folder in a process removes the temporary files left there by writers that
    are gone: those named with this host and a process id that no longer runs.

    Raises:
        OutputError: If it cannot be written (disk full, read-only, not writable).

    """
    target = Path(path)
    partial = target.with_name(
        f".{target.name}.partial-{os.getpid()}-{_host_tag()}-{uuid.uuid4().hex[:8]}"
    )
    with output_errors(path, partial):
        target.parent.mkdir(parents=True, exist_ok=True)
        _sweep_documents(target.parent)
        try:
            yield partial
            partial.replace(target)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise


_DOCUMENT_PARTIAL = re.compile(r"\..+\.partial-(\d+)-([0-9a-f]{8})-[0-9a-f]{8}")
_SWEPT_FOLDERS: set[str] = set()


def _host_tag() -> str:
    """8 hex digits naming this host in temporary names (a pid means nothing elsewhere)."""
    host = os.uname().nodename if hasattr(os, "uname") else ""
    return hashlib.blake2s(host.encode(), digest_size=4).hexdigest()


def _sweep_documents(folder: Path) -> None:
    """Remove the `atomic_file` partials in `folder` of this host's processes that are gone.

    Once per folder and process: a listing per document written would cost too much
    in a folder of many (``_job/manifests``).
    """
    key = str(folder.absolute())
    if key in _SWEPT_FOLDERS or os.name != "posix":  # os.kill(pid, 0) kills on Windows
        return
    _SWEPT_FOLDERS.add(key)
    host = _host_tag()
    with suppress(OSError), os.scandir(folder) as entries:
        for entry in entries:
            found = _DOCUMENT_PARTIAL.fullmatch(entry.name)
            if found and found.group(2) == host and not _running(int(found.group(1))):
                with suppress(OSError):
                    Path(entry.path).unlink()


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's, or beyond what we may ask about: assume alive
        return True
    return True
