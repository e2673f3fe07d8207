"""Atomic outputs between concurrent writers: no output replaced, no live partial swept."""

from __future__ import annotations

import errno
import subprocess
import sys
from pathlib import Path

import pytest

from rcm.errors import OutputError
from rcm.io import atomic_file, atomic_output

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
