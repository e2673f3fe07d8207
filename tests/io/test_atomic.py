"""Atomic outputs between concurrent writers: no output replaced, no live partial swept."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from rcm.errors import OutputError
from rcm.io import atomic_file, atomic_output, sweep_partials

HOLD = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
sys.stdin.read()
"""


def _hidden(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir() if path.name.startswith("."))


@pytest.mark.parametrize("kind", ["file", "folder", "empty folder"])
def test_of_two_writers_of_one_output_the_second_to_finish_is_refused(
    tmp_path: Path, kind: str
) -> None:
    target = tmp_path / "out.rcm"
    refused = pytest.raises(OutputError, match="already exists")
    with refused as caught, atomic_output(target, overwrite=False) as first:
        _write(first, "first", kind != "file")
        if kind == "empty folder":
            target.mkdir()  # a POSIX rename of a folder would replace this one
        else:
            with atomic_output(target, overwrite=False) as second:
                _write(second, "second", kind == "folder")
    assert caught.value.path == str(target)
    if kind == "empty folder":
        assert list(target.iterdir()) == []
    else:
        written = target / "data.txt" if kind == "folder" else target
        assert written.read_text() == "second"
    assert _hidden(tmp_path) == []  # the refused writer's partial and lock are gone


def _write(partial: Path, text: str, folder: bool) -> None:
    if folder:
        partial.mkdir()
        (partial / "data.txt").write_text(text)
    else:
        partial.write_text(text)


def test_a_partial_whose_writer_is_gone_is_swept_and_a_live_ones_kept(tmp_path: Path) -> None:
    target = tmp_path / "m1.rcm"
    dead = tmp_path / ".m1.rcm.partial-0123456789ab"
    dead.mkdir()
    (tmp_path / ".m1.rcm.partial-0123456789ab.lock").touch()  # its holder was killed
    live = tmp_path / ".m1.rcm.partial-ba9876543210"
    live.mkdir()
    other = tmp_path / ".m2.rcm.partial-0123456789ab"  # another output's partial
    other.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path / f"{live.name}.lock")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with atomic_output(target, overwrite=False) as partial:
            partial.mkdir()
        assert not dead.exists() and live.exists() and other.exists()
    finally:
        holder.communicate("")
    assert _hidden(tmp_path) == sorted([other.name, live.name, f"{live.name}.lock"])
    with atomic_output(target, overwrite=True) as partial:  # its writer gone now
        partial.mkdir()
    assert _hidden(tmp_path) == [other.name]


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT, errno.EROFS])
def test_a_full_disk_is_an_output_error_naming_the_output(tmp_path: Path, code: int) -> None:
    target = tmp_path / "out.rcm"
    full = pytest.raises(OutputError, match="cannot be written")
    with full as caught, atomic_output(target, overwrite=False) as partial:
        partial.mkdir()
        raise OSError(code, "simulated")
    assert caught.value.path == str(target)
    assert list(tmp_path.iterdir()) == []
    full = pytest.raises(OutputError, match="cannot be written")
    with full, atomic_file(tmp_path / "doc.json") as partial:
        partial.write_text("{}")
        raise OSError(errno.ENOSPC, "simulated")
    assert list(tmp_path.iterdir()) == []


def test_an_error_reading_an_input_stays_what_it_is(tmp_path: Path) -> None:
    with pytest.raises(PermissionError), atomic_output(tmp_path / "out.rcm", overwrite=False):
        raise PermissionError(errno.EACCES, "denied", str(tmp_path / "input.tif"))
    assert list(tmp_path.iterdir()) == []


def test_a_sweeper_between_a_writers_create_and_lock_does_not_fail_the_writer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sweeper takes the writer's fresh lock file first, then removes it: the writer goes on."""
    import fcntl
    import threading

    import rcm.io._lock as lock

    real_open = os.open
    swept: list[str] = []

    def open_then_sweep(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        fd = real_open(path, flags, *args, **kwargs)
        if str(path).endswith(".lock") and flags & os.O_CREAT and not swept:
            swept.append(str(path))
            sweeper = real_open(path, os.O_RDONLY)
            fcntl.flock(sweeper, fcntl.LOCK_EX | fcntl.LOCK_NB)

            def finish() -> None:
                Path(path).unlink()
                os.close(sweeper)

            threading.Timer(0.2, finish).start()
        return fd

    monkeypatch.setattr(lock.os, "open", open_then_sweep)
    target = tmp_path / "out.txt"
    with atomic_output(target, overwrite=False) as partial:
        partial.write_text("written")
    assert swept and target.read_text() == "written" and _hidden(tmp_path) == []


@pytest.mark.parametrize("readable", [True, False])
def test_a_lock_file_of_another_user_never_fails_the_writer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, readable: bool
) -> None:
    """Another user's lock file (0644) is read-only to us; one we cannot open at all is kept."""
    import rcm.io._lock as lock

    stale = tmp_path / ".m1.rcm.partial-0123456789ab"
    stale.mkdir()
    stale_lock = tmp_path / f"{stale.name}.lock"
    stale_lock.touch()
    real_open = os.open

    def denied(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if str(path) == str(stale_lock) and (flags & (os.O_RDWR | os.O_WRONLY) or not readable):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(lock.os, "open", denied)
    with atomic_output(tmp_path / "m1.rcm", overwrite=False) as partial:
        partial.mkdir()
    assert (tmp_path / "m1.rcm").is_dir()
    assert stale.exists() is not readable  # swept when its lock could be taken


def test_without_fcntl_no_partial_is_ever_swept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import rcm.io._lock as lock

    monkeypatch.setattr(lock, "fcntl", None)
    stale = tmp_path / ".m1.rcm.partial-0123456789ab"
    stale.mkdir()
    (tmp_path / f"{stale.name}.lock").touch()
    with atomic_output(tmp_path / "m1.rcm", overwrite=False) as partial:
        partial.mkdir()
    assert stale.exists() and (tmp_path / "m1.rcm").is_dir()


def test_a_sweep_skips_the_partials_this_process_writes_without_opening_their_locks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On NFS flock is a per-process POSIX lock: opening and closing our own lock would drop it."""
    import rcm.io._lock as lock

    target = tmp_path / "out.rcm"
    with atomic_output(target, overwrite=False) as partial:
        partial.mkdir()
        opened: list[str] = []
        real_open = os.open

        def recording(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
            opened.append(str(path))
            return real_open(path, flags, *args, **kwargs)

        monkeypatch.setattr(lock.os, "open", recording)
        assert sweep_partials(target) == []
        assert opened == [] and partial.is_dir()


@pytest.fixture(params=["renameat2", "link", "check then rename"])
def no_atomic_rename(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """A file system without a no-replace rename, then one without hard links either."""
    import rcm.io._atomic as atomic

    if request.param != "renameat2":
        monkeypatch.setattr(atomic, "_no_replace", None)
    if request.param == "check then rename":

        def no_links(*args: Any) -> None:
            raise OSError(errno.EPERM, "Operation not permitted")

        monkeypatch.setattr(atomic.os, "link", no_links)
    return str(request.param)


@pytest.mark.parametrize("kind", ["file", "folder"])
def test_every_rename_fallback_refuses_an_output_that_appeared(
    tmp_path: Path, no_atomic_rename: str, kind: str
) -> None:
    test_of_two_writers_of_one_output_the_second_to_finish_is_refused(tmp_path, kind)
    with atomic_output(tmp_path / "new", overwrite=False) as partial:
        _write(partial, "new", kind == "folder")
    assert (tmp_path / "new").exists() and _hidden(tmp_path) == []


@pytest.mark.parametrize(
    "code", sorted({errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP})
)
def test_a_no_replace_rename_the_file_system_lacks_falls_back(tmp_path: Path, code: int) -> None:
    import ctypes

    from rcm.io._atomic import _checked_no_replace

    def unsupported(source: bytes, target: bytes) -> int:
        ctypes.set_errno(code)
        return -1

    assert _checked_no_replace(unsupported)(b"a", b"b") is False


def test_a_document_partial_is_swept_only_when_its_writer_is_gone_from_this_host(
    tmp_path: Path,
) -> None:
    from rcm.io._atomic import _host_tag

    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        text=True,
        capture_output=True,
        check=True,
    )
    dead, host = int(gone.stdout), _host_tag()
    other_host = "0" * 8 if host != "0" * 8 else "1" * 8
    names = {
        "dead": f".doc.json.partial-{dead}-{host}-0123abcd",
        "live": f".doc.json.partial-{os.getpid()}-{host}-0123abcd",
        "other host": f".doc.json.partial-{dead}-{other_host}-0123abcd",
        "output partial": ".doc.json.partial-0123456789ab",
    }
    for name in names.values():
        (tmp_path / name).write_text("{")
    with atomic_file(tmp_path / "doc.json") as partial:
        partial.write_text("{}")
    kept = {key for key, name in names.items() if (tmp_path / name).exists()}
    assert kept == {"live", "other host", "output partial"}


def test_a_full_disk_elsewhere_names_that_file_not_the_output(tmp_path: Path) -> None:
    scratch = tmp_path / "scratch" / "spill.bin"
    full = pytest.raises(OutputError, match="cannot be written: No space")
    with full as caught, atomic_output(tmp_path / "out.rcm", overwrite=False):
        raise OSError(errno.ENOSPC, "No space left on device", str(scratch))
    assert caught.value.path == str(scratch)
    with full as caught, atomic_output(tmp_path / "out.rcm", overwrite=False) as partial:
        raise OSError(errno.ENOSPC, "No space left on device", str(partial / "a.zarr"))
    assert caught.value.path == str(tmp_path / "out.rcm")


def test_where_the_file_system_refuses_locks_writers_write_and_nothing_is_swept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """NFS without a lock daemon answers ENOLCK: not a bug of ours, and no proof of anything."""
    import fcntl
    from types import SimpleNamespace

    import rcm.io._lock as lock

    def refused(*args: Any) -> None:
        raise OSError(errno.ENOLCK, "No locks available")

    fake = SimpleNamespace(LOCK_EX=fcntl.LOCK_EX, LOCK_NB=fcntl.LOCK_NB, flock=refused)
    monkeypatch.setattr(lock, "fcntl", fake)
    stale = tmp_path / ".m1.rcm.partial-0123456789ab"
    stale.mkdir()
    (tmp_path / f"{stale.name}.lock").touch()
    with atomic_output(tmp_path / "m1.rcm", overwrite=False) as partial:
        partial.mkdir()
    assert stale.exists() and (tmp_path / "m1.rcm").is_dir()
