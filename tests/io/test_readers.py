"""One suite every reader passes: exact pixels, lazy regions, metadata, pickling."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from rcm.io import ZarrWriteOptions, open_mosaic, write_ome_zarr
from tests.conftest import gradient
from tests.io.writers import write_bmp, write_pillow, write_svs, write_tiff


@dataclass(frozen=True)
class Case:
    name: str
    make: Callable[[Path], tuple[Path, np.ndarray]]  # writes the file, returns expected pixels
    format: str
    um_per_px: float | None = None


def _tiff(
    name: str, image: np.ndarray, **kwargs: object
) -> Callable[[Path], tuple[Path, np.ndarray]]:
    return lambda tmp: (write_tiff(tmp / name, image, **kwargs), image)


def _decoded(write: Callable[[Path], Path]) -> Callable[[Path], tuple[Path, np.ndarray]]:
    """For lossy codecs: expected pixels are what the reference decoder returns."""

    def make(tmp: Path) -> tuple[Path, np.ndarray]:
        path = write(tmp)
        reference = tifffile.imread(path) if path.suffix == ".tif" else np.asarray(Image.open(path))
        return path, reference

    return make


GRAY = gradient(301, 257)
GRAY16 = gradient(211, 190, dtype="uint16")
RGB = gradient(150, 173, channels=3)
RGBA = gradient(97, 131, channels=4)
RESOLUTION = {"resolution": (20000.0, 20000.0), "resolutionunit": "CENTIMETER"}


def _pyramid_tiff(tmp: Path) -> tuple[Path, np.ndarray]:
    path = tmp / "pyramid.ome.tif"
    with tifffile.TiffWriter(path, bigtiff=True) as tif:
        tif.write(
            GRAY,
            tile=(64, 64),
            subifds=1,
            metadata={"PhysicalSizeX": 0.6, "PhysicalSizeY": 0.6, "PhysicalSizeXUnit": "µm"},
        )
        tif.write(GRAY[::2, ::2], tile=(64, 64), subfiletype=1)
    return path, GRAY


def _zarr(tmp: Path) -> tuple[Path, np.ndarray]:
    import dask.array as da

    path = tmp / "store.zarr"
    write_ome_zarr(
        da.from_array(RGB, chunks=64),
        path,
        um_per_px=0.7,
        options=ZarrWriteOptions(chunk=64, shard=64, max_top_edge=40),
    )
    return path, RGB


def _png16_rgb(tmp: Path) -> tuple[Path, np.ndarray]:
    import imagecodecs

    image = gradient(64, 80, channels=3, dtype="uint16")
    path = tmp / "rgb16.png"
    path.write_bytes(imagecodecs.png_encode(image))
    return path, image


CASES = [
    Case("tiff-tiled-raw", _tiff("a.tif", GRAY, tile=(64, 64), **RESOLUTION), "tiff", 0.5),
    Case("tiff-tiled-lzw", _tiff("a.tif", GRAY, tile=(64, 64), compression="lzw"), "tiff"),
    Case("tiff-tiled-zlib", _tiff("a.tif", GRAY16, tile=(64, 64), compression="zlib"), "tiff"),
    Case("tiff-tiled-zstd", _tiff("a.tif", RGB, tile=(32, 32), compression="zstd"), "tiff"),
    Case("tiff-stripped", _tiff("a.tif", GRAY, rowsperstrip=7), "tiff"),
    Case("tiff-stripped-deflate-rgba", _tiff("a.tif", RGBA, compression="zlib"), "tiff"),
    Case(
        "tiff-planar-rgb",
        lambda t: (
            write_tiff(
                t / "a.tif",
                np.moveaxis(RGB, -1, 0).copy(),
                photometric="rgb",
                planarconfig="separate",
            ),
            RGB,
        ),
        "tiff",
    ),
    Case(
        "bigtiff-inch",
        _tiff(
            "a.tif",
            GRAY,
            bigtiff=True,
            tile=(32, 32),
            resolution=(50800.0, 50800.0),
            resolutionunit="INCH",
        ),
        "tiff",
        0.5,
    ),
    Case(
        "tiff-jpeg",
        _decoded(lambda t: write_tiff(t / "a.tif", RGB, tile=(32, 32), compression="jpeg")),
        "tiff",
    ),
    Case("ome-tiff-pyramid", _pyramid_tiff, "ome-tiff", 0.6),
    Case(
        "imagej-tiff",
        _tiff("a.tif", GRAY, imagej=True, resolution=(2.0, 2.0), metadata={"unit": "um"}),
        "tiff",
        0.5,
    ),
    Case("svs", lambda t: (write_svs(t / "a.svs", RGB), RGB), "openslide:aperio", 0.499),
    Case("bmp-gray", lambda t: (write_bmp(t / "a.bmp", GRAY, ppm=2_000_000), GRAY), "bmp", 0.5),
    Case("bmp-gray-top-down", lambda t: (write_bmp(t / "a.bmp", GRAY, top_down=True), GRAY), "bmp"),
    Case("bmp-rgb", lambda t: (write_bmp(t / "a.bmp", RGB), RGB), "bmp"),
    Case("bmp-bgra32", lambda t: (write_bmp(t / "a.bmp", RGBA), RGBA[..., :3]), "bmp"),
    Case(
        "bmp-colour-palette",
        lambda t: (
            write_bmp(t / "a.bmp", GRAY, palette=gradient(256, 3, dtype="uint8")),
            gradient(256, 3, dtype="uint8")[GRAY],
        ),
        "bmp",
    ),
    Case(
        "png-gray",
        lambda t: (write_pillow(t / "a.png", GRAY, dpi=(50800, 50800)), GRAY),
        "png",
        0.5,
    ),
    Case("png-gray16", lambda t: (write_pillow(t / "a.png", GRAY16), GRAY16), "png"),
    Case("png-rgb16", _png16_rgb, "png"),
    Case("png-rgba", lambda t: (write_pillow(t / "a.png", RGBA), RGBA), "png"),
    Case("jpeg-rgb", _decoded(lambda t: write_pillow(t / "a.jpg", RGB, quality=90)), "jpeg"),
    Case("ome-zarr", _zarr, "ome-zarr", 0.7),
]


@pytest.fixture(params=CASES, ids=[case.name for case in CASES])
def case(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Case, Path, np.ndarray]:
    path, expected = request.param.make(tmp_path)
    return request.param, path, expected


def test_pixels_equal_the_source(case: tuple[Case, Path, np.ndarray]) -> None:
    _spec, path, expected = case
    mosaic = open_mosaic(path)
    assert mosaic.info.shape == expected.shape
    assert mosaic.info.dtype == expected.dtype.name
    np.testing.assert_array_equal(mosaic.data.compute(), expected)


def test_metadata(case: tuple[Case, Path, np.ndarray]) -> None:
    spec, path, expected = case
    info = open_mosaic(path).info
    assert info.format == spec.format
    assert info.channels == (1 if expected.ndim == 2 else expected.shape[2])
    assert info.checksum.startswith("sha256:") and len(info.checksum) == 71
    if spec.um_per_px is None:
        assert info.um_per_px is None and info.notes
    else:
        assert info.um_per_px == pytest.approx(spec.um_per_px)


def test_regions_and_pickled_arrays(case: tuple[Case, Path, np.ndarray]) -> None:
    _, path, expected = case
    data = open_mosaic(path).data
    window = (slice(13, 61), slice(29, 88))
    np.testing.assert_array_equal(data[window].compute(), expected[window])
    # Workers of a distributed cluster receive the graph pickled, file handles dropped.
    clone = pickle.loads(pickle.dumps(data))
    np.testing.assert_array_equal(clone[window].compute(), expected[window])


def test_override_pixel_size(case: tuple[Case, Path, np.ndarray]) -> None:
    _, path, _ = case
    info = open_mosaic(path, um_per_px=0.75).info
    assert (info.um_per_px, info.um_per_px_source) == (0.75, "user")


def test_pyramid_levels_are_read(tmp_path: Path) -> None:
    path, _ = _pyramid_tiff(tmp_path)
    mosaic = open_mosaic(path)
    assert mosaic.info.level_shapes == (GRAY.shape, GRAY[::2, ::2].shape)
    np.testing.assert_array_equal(mosaic.levels[1].compute(), GRAY[::2, ::2])


def test_openslide_levels(tmp_path: Path) -> None:
    path = write_svs(tmp_path / "a.svs", RGB)
    mosaic = open_mosaic(path)
    assert len(mosaic.levels) == 1 and mosaic.info.shape == RGB.shape


def test_opening_reads_no_pixels(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from rcm.io import _source

    calls: list[object] = []
    original = _source.RegionSource.__getitem__
    monkeypatch.setattr(
        _source.RegionSource,
        "__getitem__",
        lambda self, key: calls.append(key) or original(self, key),
    )
    open_mosaic(write_tiff(tmp_path / "a.tif", GRAY, tile=(64, 64)))
    open_mosaic(write_bmp(tmp_path / "a.bmp", GRAY))
    assert calls == []


def test_ngff_04_on_zarr_v2(tmp_path: Path) -> None:
    import zarr

    path = tmp_path / "old.zarr"
    group = zarr.open_group(path, mode="w", zarr_format=2)
    group.create_array("0", data=GRAY, chunks=(64, 64))
    group.attrs["multiscales"] = [
        {
            "version": "0.4",
            "axes": [
                {"name": "y", "type": "space", "unit": "micrometer"},
                {"name": "x", "type": "space", "unit": "micrometer"},
            ],
            "datasets": [
                {"path": "0", "coordinateTransformations": [{"type": "scale", "scale": [0.8, 0.8]}]}
            ],
        }
    ]
    mosaic = open_mosaic(path)
    assert mosaic.info.um_per_px == pytest.approx(0.8)
    np.testing.assert_array_equal(mosaic.data.compute(), GRAY)


def test_plain_folder_named_zarr_is_refused(tmp_path: Path) -> None:
    from rcm.errors import MosaicReadError

    (tmp_path / "x.zarr").mkdir()
    with pytest.raises(MosaicReadError, match="not a zarr store"):
        open_mosaic(tmp_path / "x.zarr")


def test_read_region_pads_outside(case: tuple[Case, Path, np.ndarray]) -> None:
    _, path, expected = case
    mosaic = open_mosaic(path)
    region = mosaic.read_region(-5, 40, 30, expected.shape[1] + 7)
    assert region.shape == (35, expected.shape[1] + 7 - 40, *expected.shape[2:])
    np.testing.assert_array_equal(region[5:, : expected.shape[1] - 40], expected[:30, 40:])
    assert not region[:5].any() and not region[:, expected.shape[1] - 40 :].any()
