"""Hostile headers and huge segments: exit 2 naming the file, or pixels read in bounded pieces."""

from __future__ import annotations

import struct
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import tifffile

from rcm.cli.main import main
from rcm.errors import MosaicReadError
from rcm.io import _tiff_segments, open_mosaic
from tests.conftest import gradient
from tests.io.writers import write_bmp, write_tiff

IMAGE = gradient(96, 80)


def _patch_tag(path: Path, name: str, value: int) -> Path:
    with tifffile.TiffFile(path) as tif:
        tag = tif.pages.first.tags[name]
        offset, kind = tag.valueoffset, tag.dtype
    data = bytearray(path.read_bytes())
    struct.pack_into("<I" if kind == 4 else "<H", data, offset, value)
    path.write_bytes(bytes(data))
    return path


def _zero_width_tiff(tmp: Path) -> Path:
    return _patch_tag(write_tiff(tmp / "w0.tif", IMAGE, tile=(32, 32)), "ImageWidth", 0)


def _zero_rows_per_strip(tmp: Path) -> Path:
    return _patch_tag(write_tiff(tmp / "r0.tif", IMAGE, rowsperstrip=8), "RowsPerStrip", 0)


def _ome_bad_physical_size(tmp: Path) -> Path:
    path = write_tiff(tmp / "abc.ome.tif", IMAGE, metadata={"PhysicalSizeX": 0.5})
    text = path.read_bytes().replace(b'PhysicalSizeX="0.5"', b'PhysicalSizeX="abc"')
    path.write_bytes(text)
    return path


def _bmp_huge_palette(tmp: Path) -> Path:
    path = write_bmp(tmp / "palette.bmp", IMAGE)
    data = bytearray(path.read_bytes())
    struct.pack_into("<I", data, 46, 2**32 - 1)  # colors_used
    path.write_bytes(bytes(data))
    return path


def _complex_tiff(tmp: Path) -> Path:
    path = tmp / "complex.tif"
    tifffile.imwrite(path, IMAGE.astype(np.complex64))  # SampleFormat 6: no model takes it
    return path


HEADERS: list[tuple[str, Callable[[Path], Path], str]] = [
    ("tiff-width-0", _zero_width_tiff, "zero size"),
    ("tiff-rowsperstrip-0", _zero_rows_per_strip, ""),
    ("ome-physical-size-abc", _ome_bad_physical_size, "PhysicalSizeX"),
    ("bmp-colors-used-2^32-1", _bmp_huge_palette, "palette colours"),
    ("tiff-complex", _complex_tiff, "holds complex64 values"),
]


@pytest.mark.parametrize(
    ("make", "reason"), [(m, r) for _, m, r in HEADERS], ids=[name for name, _, _ in HEADERS]
)
@pytest.mark.parametrize("command", ["info", "convert"])
def test_bad_header_is_an_input_error(
    command: str,
    make: Callable[[Path], Path],
    reason: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    source = make(tmp_path)
    output = tmp_path / "out" / "o.zarr"
    extra = [str(output), "--no-progress"] if command == "convert" else []
    code = main([command, str(source), *extra])
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    errors = [line for line in lines if line.startswith("rcm: error:")]
    assert code == 2, err
    assert len(errors) == 1 and str(source) in errors[0] and reason in errors[0], err
    assert not output.parent.exists() or not list(output.parent.iterdir())


def test_decoder_errors_at_read_time_name_the_file(tmp_path: Path) -> None:
    path = write_tiff(tmp_path / "a.tif", IMAGE, tile=(32, 32), compression="zlib")
    with tifffile.TiffFile(path) as tif:
        offset = tif.pages.first.dataoffsets[2]
    data = bytearray(path.read_bytes())
    data[offset : offset + 8] = b"\x00" * 8  # no longer a zlib stream
    path.write_bytes(bytes(data))
    with pytest.raises(MosaicReadError, match=r"a\.tif: cannot decode pixels in rows 0-96"):
        open_mosaic(path).data.compute()


def test_bugs_in_a_reader_are_not_blamed_on_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rcm.io._tiff import TiffLevelSource

    def broken(*_: object) -> None:
        raise TypeError("a bug in rcm")

    monkeypatch.setattr(TiffLevelSource, "_read", broken)
    mosaic = open_mosaic(write_tiff(tmp_path / "a.tif", IMAGE, tile=(32, 32)))
    with pytest.raises(TypeError, match="a bug in rcm"):
        mosaic.data.compute()


# Huge strips and tiles: the bound is lowered so that small files exercise it.
BOUND = 16 << 10
HUGE = gradient(300, 250)
HUGE_RGB = gradient(260, 130, channels=3)
HUGE16 = gradient(200, 140, dtype="uint16")


@pytest.fixture
def small_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_tiff_segments, "MAX_SEGMENT_BYTES", BOUND)


STREAMED = [
    ("deflate-strip", HUGE, {"compression": "zlib", "rowsperstrip": 300}),
    ("raw-strip", HUGE, {"rowsperstrip": 300}),
    ("deflate-predictor-rgb", HUGE_RGB, {"compression": "zlib", "predictor": True}),
    ("deflate-uint16-bigendian", HUGE16, {"compression": "zlib", "byteorder": ">"}),
    ("deflate-predictor-uint16", HUGE16, {"compression": "zlib", "predictor": True}),
    ("deflate-tile", HUGE, {"compression": "zlib", "tile": (256, 256)}),
    ("planar-rgb", HUGE_RGB, {"compression": "zlib", "planarconfig": "separate"}),
    ("two-strips", HUGE, {"compression": "zlib", "rowsperstrip": 160}),
]


@pytest.mark.usefixtures("small_bound")
@pytest.mark.parametrize(
    ("image", "kwargs"), [(i, k) for _, i, k in STREAMED], ids=[s[0] for s in STREAMED]
)
def test_huge_segments_are_streamed_exactly(
    image: np.ndarray, kwargs: dict[str, object], tmp_path: Path
) -> None:
    extra = {"photometric": "rgb"} if image.ndim == 3 else {}
    if kwargs.get("planarconfig") == "separate":
        image_on_disk = np.moveaxis(image, -1, 0).copy()
    else:
        image_on_disk = image
    path = write_tiff(tmp_path / "huge.tif", image_on_disk, **extra, **kwargs)  # type: ignore[arg-type]
    mosaic = open_mosaic(path)
    np.testing.assert_array_equal(mosaic.data.compute(), image)
    window = (slice(133, 211), slice(17, 99))
    np.testing.assert_array_equal(mosaic.sources[0][window], image[window])


@pytest.mark.usefixtures("small_bound")
def test_huge_strip_reads_in_bounded_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_tiff_segments, "_PIECE", 16 << 10)
    image = gradient(1000, 1000)
    path = write_tiff(tmp_path / "huge.tif", image, compression="zlib", rowsperstrip=1000)
    source = open_mosaic(path).sources[0]
    tracemalloc.start()
    try:
        region = source[900:910, 0:1000]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    np.testing.assert_array_equal(region, image[900:910])
    assert peak < image.nbytes / 4, peak


@pytest.mark.usefixtures("small_bound")
def test_huge_segment_of_another_codec_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_tiff(tmp_path / "huge.tif", HUGE, compression="lzw", rowsperstrip=300)
    assert main(["info", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and str(path) in err, err
    assert "tiled TIFF" in err and "LZW" in err, err


def test_slide_with_an_absurd_tile_is_refused_before_openslide(tmp_path: Path) -> None:
    """OpenSlide would allocate the tile the header claims and abort the process."""
    from tests.io.writers import write_svs

    path = _patch_tag(
        write_svs(tmp_path / "a.svs", gradient(64, 80, channels=3)), "TileWidth", 2**31 - 1
    )
    with pytest.raises(MosaicReadError, match="too large to decode"):
        open_mosaic(path)


def test_a_one_bit_tiff_converts_and_reads_back_as_bool(tmp_path: Path) -> None:
    """Bilevel images (lesion masks saved as 1-bit TIFF) are pixels like any other."""
    source = tmp_path / "bilevel.tif"
    tifffile.imwrite(source, IMAGE >= 128)
    assert main(["convert", str(source), str(tmp_path / "m.zarr"), "--no-progress"]) == 0
    converted = open_mosaic(tmp_path / "m.zarr")
    assert converted.info.dtype == "bool"
    np.testing.assert_array_equal(converted.data.compute(), IMAGE >= 128)
