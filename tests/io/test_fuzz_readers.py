"""Seeded fuzzing of every file reader: mutated files give pixels or one input error.

For each format a small valid file is mutated (bit flips, truncations, header
fields set to 0, 1, huge, negative or random) 500 times. Every mutant is opened
and read whole (every level) in-process, mapped to an exit code as ``rcm``'s CLI
does: 0 when it reads, 2 for an `InputError` (one line naming the file); any
other exception is a bug and fails the test. Every 20th mutant is also converted
to OME-Zarr, which must leave either a store equal to the pixels read or nothing.
A few mutants go through the real ``rcm convert`` in subprocesses.
"""

from __future__ import annotations

import logging
import os
import resource
import shutil
import signal
import struct
import subprocess
import sys
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import dask.array as da
import numpy as np
import pytest
import tifffile

from rcm.errors import InputError
from rcm.io import ZarrWriteOptions, open_mosaic
from rcm.io import write_tiff as rcm_write_tiff
from rcm.pipeline.convert import convert_mosaic
from tests.conftest import gradient
from tests.io.writers import write_bmp, write_pillow, write_svs, write_tiff

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore")]

MUTANTS = 500
SECONDS_PER_CASE = 10
MAX_PIXELS = 1 << 22  # header claims beyond this are refused before any allocation
RSS_GROWTH_BOUND = 1 << 30
CONVERT_EVERY = 20
GRAY, RGB = gradient(72, 88), gradient(64, 80, channels=3)


@dataclass(frozen=True)
class Format:
    name: str
    suffix: str
    write: Callable[[Path], Path]
    fields: Callable[[bytes], list[tuple[int, str]]]  # (offset, struct format) of header fields


def _tiff_fields(data: bytes) -> list[tuple[int, str]]:
    """Every value of every IFD entry (tags of all pages), where tifffile found it."""
    import io

    fields = []
    with tifffile.TiffFile(io.BytesIO(data)) as tif:
        order = tif.byteorder
        for page in tif.pages:
            for tag in page.tags:  # type: ignore[union-attr]
                code = {3: "H", 4: "I", 16: "Q", 8: "h", 9: "i", 1: "B"}.get(tag.dtype)
                if code is not None:
                    fields.append((tag.valueoffset, order + code))
                fields += [
                    (tag.offset + 2, order + "H"),
                    (tag.offset + 4, order + "I"),
                ]  # type, count
    return fields


def _bmp_fields(_: bytes) -> list[tuple[int, str]]:
    return [
        (2, "<I"),  # file size
        (10, "<I"),  # pixel offset
        (14, "<I"),  # header size
        (18, "<i"),  # width
        (22, "<i"),  # height
        (26, "<H"),  # planes
        (28, "<H"),  # bits
        (30, "<I"),  # compression
        (34, "<I"),  # image size
        (38, "<i"),  # x pixels per metre
        (42, "<i"),  # y pixels per metre
        (46, "<I"),  # colours used
        (54, "<I"),  # first palette entry / bit mask
    ]


def _png_fields(_: bytes) -> list[tuple[int, str]]:
    # IHDR: width, height, depth, colour type, compression, filter, interlace (CRC fixed up).
    return [(16, ">I"), (20, ">I"), (24, ">B"), (25, ">B"), (26, ">B"), (27, ">B"), (28, ">B")]


def _jpeg_fields(data: bytes) -> list[tuple[int, str]]:
    """Lengths of every marker segment; SOF precision, size and component count."""
    fields, at = [], 2
    while at + 4 <= len(data) and data[at] == 0xFF:
        marker, length = data[at + 1], struct.unpack_from(">H", data, at + 2)[0]
        fields.append((at + 2, ">H"))
        if marker in (0xC0, 0xC1, 0xC2):
            fields += [(at + 4, ">B"), (at + 5, ">H"), (at + 7, ">H"), (at + 9, ">B")]
        if marker == 0xDA:  # entropy-coded data follows
            break
        at += 2 + length
    return fields


def _rcm_bigtiff(path: Path) -> Path:
    chunks = da.from_array(RGB, chunks=32)
    return rcm_write_tiff(chunks, path, um_per_px=0.5, tile=32, compression="zlib")


def _ome_pyramid(path: Path) -> Path:
    with tifffile.TiffWriter(path, bigtiff=False, ome=True) as tif:
        tif.write(
            GRAY, tile=(32, 32), subifds=1, compression="zlib", metadata={"PhysicalSizeX": 0.6}
        )
        tif.write(GRAY[::2, ::2], tile=(32, 32), subfiletype=1, compression="zlib")
    return path


FORMATS = [
    Format(
        "tiff-tiled",
        ".tif",
        lambda p: write_tiff(p, GRAY, tile=(32, 32), compression="zlib", resolution=(2e4, 2e4)),
        _tiff_fields,
    ),
    Format(
        "tiff-stripped",
        ".tif",
        lambda p: write_tiff(p, RGB, rowsperstrip=9, compression="lzw", photometric="rgb"),
        _tiff_fields,
    ),
    Format(
        "tiff-huge-strip",  # read by rows: the segment bound is lowered below
        ".tif",
        lambda p: write_tiff(p, GRAY, rowsperstrip=72, compression="zlib", predictor=True),
        _tiff_fields,
    ),
    Format("ome-tiff-pyramid", ".ome.tif", _ome_pyramid, _tiff_fields),
    Format("bigtiff-rcm", ".tif", _rcm_bigtiff, _tiff_fields),
    Format("bmp", ".bmp", lambda p: write_bmp(p, RGB, ppm=2_000_000), _bmp_fields),
    Format("bmp-palette", ".bmp", lambda p: write_bmp(p, GRAY), _bmp_fields),
    Format("png", ".png", lambda p: write_pillow(p, RGB, dpi=(300, 300)), _png_fields),
    Format("jpeg", ".jpg", lambda p: write_pillow(p, RGB, quality=80), _jpeg_fields),
    Format("svs", ".svs", lambda p: write_svs(p, gradient(260, 140, channels=3)), _tiff_fields),
]

_VALUES = (0, 1, 0xFF, 0x7FFF, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 1 << 40, -1)


def mutate(data: bytes, fields: list[tuple[int, str]], rng: np.random.Generator) -> bytes:
    """One seeded mutation: bit flips, a truncation, or a header field changed."""
    out = bytearray(data)
    kind = rng.integers(10)
    if kind < 4:  # flip 1-8 bits, mostly in the first kilobyte (headers)
        for _ in range(rng.integers(1, 9)):
            span = min(len(out), 1024) if rng.random() < 0.7 else len(out)
            out[rng.integers(span)] ^= 1 << int(rng.integers(8))
        return bytes(out)
    if kind < 6:
        return bytes(out[: rng.integers(1, len(out))])
    for _ in range(rng.integers(1, 3)):
        offset, code = fields[rng.integers(len(fields))]
        size = struct.calcsize(code)
        if offset + size > len(out):
            continue
        value = int(_VALUES[rng.integers(len(_VALUES))]) if rng.random() < 0.7 else None
        bits = 8 * size
        if value is None:
            value = int(rng.integers(1 << min(bits, 62)))
        value %= 1 << bits
        if code[-1] in "hiq" and value >= 1 << (bits - 1):
            value -= 1 << bits
        struct.pack_into(code, out, offset, value)
    if data.startswith(b"\x89PNG"):  # keep the IHDR checksum right, so the fields are read
        struct.pack_into(">I", out, 29, zlib.crc32(bytes(out[12:29])))
    return bytes(out)


@contextmanager
def time_limit(seconds: int) -> Iterator[None]:
    def expire(*_: object) -> None:
        raise TimeoutError(f"a case ran for more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def outcome(path: Path, output: Path | None) -> tuple[int, str]:
    """Open, read every level (and convert to `output`), mapped to exit codes as the CLI does."""
    try:
        mosaic = open_mosaic(path, max_pixels=MAX_PIXELS)
        pixels = [np.asarray(level.compute(scheduler="sync")) for level in mosaic.levels]
        for array, shape in zip(pixels, mosaic.info.level_shapes, strict=True):
            assert array.shape == shape and array.dtype.name == mosaic.info.dtype
        if output is not None:
            options = ZarrWriteOptions(chunk=64, shard=0, max_top_edge=64, workers=1)
            convert_mosaic(mosaic, output, options=options)
            np.testing.assert_array_equal(open_mosaic(output).data.compute(), pixels[0])
    except InputError as error:
        return 2, str(error)
    return 0, ""


@pytest.mark.parametrize("spec", FORMATS, ids=[f.name for f in FORMATS])
def test_mutated_files_read_or_are_refused(
    spec: Format, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rcm.io import _tiff_segments

    if spec.name == "tiff-huge-strip":
        monkeypatch.setattr(_tiff_segments, "MAX_SEGMENT_BYTES", 1024)
        monkeypatch.setattr(_tiff_segments, "_PIECE", 512)
    logging.getLogger("tifffile").setLevel(logging.CRITICAL)  # as the CLI does, and more
    pristine = spec.write(tmp_path / f"pristine{spec.suffix}").read_bytes()
    assert outcome(tmp_path / f"pristine{spec.suffix}", None)[0] == 0
    fields = spec.fields(pristine)
    rng = np.random.default_rng(sum(map(ord, spec.name)))
    start_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    codes = {0: 0, 2: 0}
    for case in range(MUTANTS):
        path = tmp_path / f"m{case}{spec.suffix}"
        path.write_bytes(mutate(pristine, fields, rng))
        output = tmp_path / f"out{case}" / "m.zarr" if case % CONVERT_EVERY == 0 else None
        started = time.perf_counter()
        with time_limit(SECONDS_PER_CASE):
            code, message = outcome(path, output)
        assert time.perf_counter() - started < SECONDS_PER_CASE
        codes[code] += 1
        if code == 2:
            assert "\n" not in message and message.startswith(str(path)), (case, message)
        if output is not None:
            left = sorted(p.name for p in output.parent.iterdir()) if output.parent.exists() else []
            assert left == ([output.name] if code == 0 else []), (case, left)
            shutil.rmtree(output.parent, ignore_errors=True)
        path.unlink()
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - start_rss
    assert grown < RSS_GROWTH_BOUND, f"peak RSS grew by {grown / 2**20:.0f} MiB"
    assert codes[2] > 0, codes


def test_the_command_line_contract_on_mutants(tmp_path: Path) -> None:
    """Real `rcm convert` processes: exit 0 or 2, one error line naming the file, nothing left."""
    runs = []
    for index, spec in enumerate(FORMATS[::3]):
        pristine = spec.write(tmp_path / f"pristine{index}{spec.suffix}").read_bytes()
        rng = np.random.default_rng(index)
        for variant in range(1):
            path = tmp_path / f"mutant{index}-{variant}{spec.suffix}"
            path.write_bytes(mutate(pristine, spec.fields(pristine), rng))
            output = tmp_path / f"out{index}-{variant}" / "store.zarr"
            command = [sys.executable, "-m", "rcm.cli.main", "convert", str(path), str(output)]
            child = subprocess.Popen(
                [*command, "--no-progress"],
                stderr=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                text=True,
                env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])},
            )
            runs.append((path, output, child))
    for path, output, child in runs:
        _, err = child.communicate(timeout=120)
        assert child.returncode in (0, 2), err
        errors = [line for line in err.splitlines() if line.startswith("rcm: error:")]
        left = sorted(p.name for p in output.parent.iterdir()) if output.parent.exists() else []
        if child.returncode == 2:
            assert len(errors) == 1 and str(path) in errors[0], err
            assert left == [], left
        else:
            assert left == [output.name], left
