"""Each kind of bad input: one line naming the file and the reason, exit 2, nothing left behind."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import tifffile

from rcm.cli.main import main
from tests.conftest import gradient
from tests.io.writers import write_bmp, write_pillow, write_tiff

IMAGE = gradient(300, 260)


def _truncated_tiff(tmp: Path) -> Path:
    full = write_tiff(tmp / "full.tif", IMAGE, tile=(64, 64), compression="zlib").read_bytes()
    (tmp / "full.tif").unlink()
    path = tmp / "truncated.tif"
    path.write_bytes(full[: len(full) // 2])
    return path


def _truncated_png(tmp: Path) -> Path:
    full = write_pillow(tmp / "full.png", IMAGE).read_bytes()
    (tmp / "full.png").unlink()
    path = tmp / "truncated.png"
    path.write_bytes(full[: len(full) // 2])
    return path


def _truncated_bmp(tmp: Path) -> Path:
    full = write_bmp(tmp / "full.bmp", IMAGE).read_bytes()
    (tmp / "full.bmp").unlink()
    path = tmp / "truncated.bmp"
    path.write_bytes(full[: len(full) - 1000])
    return path


def _corrupt_tile(tmp: Path) -> Path:
    path = write_tiff(tmp / "corrupt.tif", IMAGE, tile=(64, 64), compression="zlib")
    with tifffile.TiffFile(path) as tif:
        offset = tif.pages.first.dataoffsets[5]
    data = bytearray(path.read_bytes())
    data[offset + 2 : offset + 40] = b"\xff" * 38
    path.write_bytes(bytes(data))
    return path


def _wrong_extension(tmp: Path) -> Path:
    source = write_pillow(tmp / "photo.png", IMAGE)
    return source.rename(tmp / "photo.tif")


def _unsupported(tmp: Path) -> Path:
    path = tmp / "notes.txt"
    path.write_text("not an image")
    return path


def _gif(tmp: Path) -> Path:
    return write_pillow(tmp / "anim.gif", IMAGE)


def _zero_size_bmp(tmp: Path) -> Path:
    path = write_bmp(tmp / "empty.bmp", np.zeros((4, 4), np.uint8))
    data = bytearray(path.read_bytes())
    struct.pack_into("<i", data, 18, 0)  # width 0
    path.write_bytes(bytes(data))
    return path


def _empty_file(tmp: Path) -> Path:
    path = tmp / "empty.tif"
    path.write_bytes(b"")
    return path


def _png_bomb(tmp: Path) -> Path:
    """A tiny PNG whose header declares 100,000 x 100,000 pixels."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 0, 0, 0, 0)
    path = tmp / "bomb.png"
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 100))
        + chunk(b"IEND", b"")
    )
    return path


def _bmp_bomb(tmp: Path) -> Path:
    path = write_bmp(tmp / "bomb.bmp", np.zeros((4, 4), np.uint8))
    data = bytearray(path.read_bytes())
    struct.pack_into("<ii", data, 18, 200_000, 200_000)
    path.write_bytes(bytes(data))
    return path


def _tiff_bomb(tmp: Path) -> Path:
    """A small tiled TIFF whose ImageWidth/ImageLength tags were raised to 10^6."""
    path = write_tiff(tmp / "bomb.tif", IMAGE, tile=(64, 64), compression="zlib")
    with tifffile.TiffFile(path) as tif:
        tags = tif.pages.first.tags
        offsets = [tags["ImageWidth"].valueoffset, tags["ImageLength"].valueoffset]
        types = [tags["ImageWidth"].dtype, tags["ImageLength"].dtype]
    data = bytearray(path.read_bytes())
    for offset, kind in zip(offsets, types, strict=True):
        struct.pack_into(
            "<I" if kind == 4 else "<H", data, offset, 1_000_000 if kind == 4 else 65_000
        )
    path.write_bytes(bytes(data))
    return path


def _directory(tmp: Path) -> Path:
    path = tmp / "folder.tif"
    path.mkdir()
    return path


def _missing(tmp: Path) -> Path:
    return tmp / "missing.tif"


BAD_INPUTS: list[tuple[str, Callable[[Path], Path], str]] = [
    ("truncated-tiff", _truncated_tiff, "truncated"),
    ("truncated-png", _truncated_png, "truncated"),
    ("truncated-bmp", _truncated_bmp, "truncated"),
    ("corrupt-tile", _corrupt_tile, "cannot decode pixels in rows"),
    ("wrong-extension", _wrong_extension, "wrong extension"),
    ("unsupported-txt", _unsupported, "unsupported format"),
    ("unsupported-gif", _gif, "unsupported format"),
    ("zero-size", _zero_size_bmp, "zero size"),
    ("empty-file", _empty_file, "empty"),
    ("png-bomb", _png_bomb, "pixel budget"),
    ("bmp-bomb", _bmp_bomb, "pixel budget"),
    ("tiff-bomb", _tiff_bomb, "pixel budget"),
    ("directory", _directory, "is a directory"),
    ("missing", _missing, "no such file"),
]


@pytest.mark.parametrize(
    ("make", "reason"), [(m, r) for _, m, r in BAD_INPUTS], ids=[name for name, _, _ in BAD_INPUTS]
)
def test_convert_reports_bad_input(
    make: Callable[[Path], Path], reason: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = make(tmp_path)
    output = tmp_path / "out" / "result.zarr"
    code = main(["convert", str(source), str(output), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2
    errors = [line for line in err.splitlines() if line.startswith("rcm: error:")]
    assert len(errors) == 1, err
    assert str(source) in errors[0] and reason in errors[0], errors[0]
    assert all(line.startswith("rcm: ") for line in err.splitlines()), err
    assert "Traceback" not in err
    leftovers = list(output.parent.iterdir()) if output.parent.exists() else []
    assert leftovers == [], leftovers


@pytest.mark.parametrize("command", ["info", "convert"])
def test_debug_shows_traceback(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _unsupported(tmp_path)
    extra = [str(tmp_path / "o.zarr")] if command == "convert" else []
    assert main(["--debug", command, str(source), *extra]) == 2
    assert "Traceback" in capsys.readouterr().err


def test_output_not_writable(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = write_tiff(tmp_path / "a.tif", IMAGE)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    output = blocker / "out.zarr"  # its folder would have to be a regular file
    assert main(["convert", str(source), str(output), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert str(output) in err and "cannot create its folder" in err


def test_existing_output_needs_overwrite(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_tiff(tmp_path / "a.tif", IMAGE)
    output = tmp_path / "out.zarr"
    assert main(["convert", str(source), str(output), "--no-progress"]) == 0
    before = sorted(p.relative_to(output) for p in output.rglob("*"))
    assert main(["convert", str(source), str(output), "--no-progress"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert sorted(p.relative_to(output) for p in output.rglob("*")) == before
    assert main(["convert", str(source), str(output), "--overwrite", "--no-progress"]) == 0
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_bad_usage_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["convert", "--chunk", "-3", "a.tif", "b.zarr"])
    assert stop.value.code == 2


def test_corrupt_tile_in_failed_convert_keeps_existing_output(tmp_path: Path) -> None:
    """--overwrite replaces an output only once the new one is complete."""
    good = write_tiff(tmp_path / "good.tif", IMAGE, tile=(64, 64))
    output = tmp_path / "out.zarr"
    assert main(["convert", str(good), str(output), "--no-progress"]) == 0
    checksum_before = sorted((p.name, p.stat().st_size) for p in output.rglob("*"))
    bad = _corrupt_tile(tmp_path)
    assert main(["convert", str(bad), str(output), "--overwrite", "--no-progress"]) == 2
    assert sorted((p.name, p.stat().st_size) for p in output.rglob("*")) == checksum_before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_unreadable_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Permission bits do not stop root, so the denial is simulated at open()."""
    source = write_tiff(tmp_path / "locked.tif", IMAGE)
    real_open = Path.open

    def deny(self: Path, *args: object, **kwargs: object) -> object:
        if self == source:
            raise PermissionError(13, "Permission denied")
        return real_open(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "open", deny)
    assert main(["info", str(source)]) == 2
    assert (
        capsys.readouterr().err.strip() == f"rcm: error: {source}: cannot read: Permission denied"
    )
