"""Which failures while reading a mosaic are the file's fault (exit 2), which are bugs (exit 1)."""

from __future__ import annotations

import errno
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numcodecs
import numpy as np
import pytest
import tifffile

from rcm.cli.main import main
from rcm.errors import MosaicReadError
from rcm.io import _tiff, _tiff_segments, open_mosaic
from rcm.io._source import is_decode_error
from tests.conftest import gradient
from tests.io.writers import write_tiff

IMAGE = gradient(96, 80)


def _convert(source: Path, tmp: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    output = tmp / "out" / "o.zarr"
    code = main(["convert", str(source), str(output), "--no-progress"])
    err = capsys.readouterr().err
    assert code != 2 or not output.exists()  # refused input leaves nothing behind
    return code, err


def _raised(function: Any, *args: Any) -> BaseException:
    try:
        function(*args)
    except Exception as error:
        return error
    raise AssertionError("nothing raised")


def test_a_bug_in_region_assembly_is_an_internal_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_tiff(tmp_path / "a.tif", IMAGE, tile=(32, 32))
    decoded = _tiff._decoded

    def wrong_shape(*args: Any) -> Iterator[tuple[int, int, int, np.ndarray]]:
        for plane, top, left, tile in decoded(*args):  # a bug: a stray leading axis
            yield plane, top, left, tile[None]

    monkeypatch.setattr(_tiff, "_decoded", wrong_shape)
    code, err = _convert(source, tmp_path, capsys)
    assert code == 1, err
    assert "internal error: ValueError" in err and "cannot decode" not in err


def test_a_corrupt_zlib_tile_is_an_input_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_tiff(tmp_path / "a.tif", IMAGE, tile=(32, 32), compression="zlib")
    with tifffile.TiffFile(source) as tif:
        offset = tif.pages.first.dataoffsets[2]
    data = bytearray(source.read_bytes())
    data[offset : offset + 8] = b"\x00" * 8
    source.write_bytes(bytes(data))
    code, err = _convert(source, tmp_path, capsys)
    assert code == 2, err
    assert f"{source}: cannot decode pixels" in err


@pytest.fixture
def streamed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A TIFF whose one strip is read by rows through rcm's own file reads."""
    monkeypatch.setattr(_tiff_segments, "MAX_SEGMENT_BYTES", 1 << 10)
    return write_tiff(tmp_path / "s.tif", IMAGE, rowsperstrip=96)


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (OSError(errno.EIO, "Input/output error"), 2),  # the disk failed reading the input
        (OSError("a message rcm made up"), 1),  # no system call failed: a bug
        (FileNotFoundError(errno.ENOENT, "No such file", "/elsewhere/x"), 1),  # not the input
    ],
)
def test_os_errors_from_reading_the_file(
    streamed: Path,
    error: OSError,
    code: int,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def failing(*_: object) -> bytes:
        raise error

    monkeypatch.setattr(_tiff_segments, "_read_at", failing)
    got, err = _convert(streamed, streamed.parent, capsys)
    assert got == code, err
    if code == 2:
        assert f"{streamed}: cannot decode pixels" in err


def test_a_short_strip_read_by_rows_names_the_file(
    streamed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_tiff_segments, "_read_at", lambda *_: b"")
    with pytest.raises(MosaicReadError, match=r"s\.tif: .*fewer bytes"):
        open_mosaic(streamed).data.compute()


def test_the_rule_looks_at_where_a_built_in_error_was_raised() -> None:
    def in_rcm() -> None:
        np.broadcast_to(np.zeros(3), (2, 2))  # raised inside numpy, called by rcm

    assert not is_decode_error(_raised(in_rcm))
    assert not is_decode_error(_raised(int, "x"))  # raised by a builtin called from here
    assert not is_decode_error(_raised(lambda: [][1]))
    # Decoder classes and codec errors are the file's fault wherever they come from.
    assert is_decode_error(tifffile.TiffFileError("bad"))
    assert is_decode_error(_raised(zlib.decompress, b"not zlib"))
    # Raised inside a decoder, including numpy helpers it calls.
    assert is_decode_error(_raised(tifffile.TiffFile, __file__))
    assert is_decode_error(_raised(tifffile.product, ((1, 2), 3)))
    assert is_decode_error(_raised(numcodecs.Zstd().decode, b"not zstd"))  # RuntimeError


def test_a_header_listing_too_few_strip_sizes_is_an_input_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_tiff(tmp_path / "a.tif", IMAGE, rowsperstrip=32)
    with tifffile.TiffFile(source) as tif:
        entry = tif.pages.first.tags["StripByteCounts"].offset  # the IFD entry itself
    data = bytearray(source.read_bytes())
    struct.pack_into("<I", data, entry + 4, 1)  # count 1 of 3; the value now inline
    source.write_bytes(bytes(data))
    code, err = _convert(source, tmp_path, capsys)
    assert code == 2, err
    assert f"{source}: malformed TIFF header: it lists 1 strip" in err
