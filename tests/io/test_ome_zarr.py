"""OME-Zarr writing: exact round trip, pyramid, NGFF validity, atomicity, bounded reads."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import dask.array as da
import numpy as np
import pytest
import zarr
from hypothesis import given, settings
from hypothesis import strategies as st

from rcm.io import (
    ZarrWriteOptions,
    _source,
    downsample_mean,
    open_mosaic,
    pyramid_shapes,
    write_ome_zarr,
)
from tests.conftest import gradient
from tests.io.writers import write_bmp, write_tiff

SMALL = ZarrWriteOptions(chunk=64, shard=128, max_top_edge=50)


@pytest.mark.parametrize("shape", [(333, 197), (128, 128), (129, 511, 3), (61, 70, 4)])
@pytest.mark.parametrize("shard", [128, 0])
def test_round_trip_is_exact_at_every_level(
    tmp_path: Path, shape: tuple[int, ...], shard: int
) -> None:
    image = gradient(*shape[:2], channels=shape[2] if len(shape) == 3 else 0)
    source = write_tiff(tmp_path / "a.tif", image, tile=(32, 32))
    mosaic = open_mosaic(source)
    options = ZarrWriteOptions(chunk=64, shard=shard, max_top_edge=50)
    out = write_ome_zarr(mosaic.data, tmp_path / "a.zarr", um_per_px=0.5, options=options)
    back = open_mosaic(out)
    np.testing.assert_array_equal(back.data.compute(), image)
    expected = image
    for level in back.levels[1:]:
        expected = downsample_mean(expected)
        np.testing.assert_array_equal(level.compute(), expected)
    assert max(back.info.level_shapes[-1][:2]) <= 50
    assert max(back.info.level_shapes[-2][:2]) > 50


def test_store_layout_and_metadata(tmp_path: Path) -> None:
    image = gradient(300, 200)
    out = write_ome_zarr(
        da.from_array(image, chunks=100),
        tmp_path / "a.zarr",
        um_per_px=0.6,
        attributes={"source": {"checksum": "sha256:x"}},
        options=SMALL,
    )
    group = zarr.open_group(out, mode="r")
    level0 = group["0"]
    assert level0.chunks == (64, 64) and level0.shards == (128, 128)
    ome = group.attrs["ome"]
    assert ome["version"] == "0.5"
    scales = [d["coordinateTransformations"][0]["scale"] for d in ome["multiscales"][0]["datasets"]]
    assert scales == [[0.6, 0.6], [1.2, 1.2], [2.4, 2.4], [4.8, 4.8]]
    assert group.attrs["rcm"]["source"] == {"checksum": "sha256:x"}
    assert "version" in group.attrs["rcm"]


def test_valid_ngff_for_other_readers(tmp_path: Path) -> None:
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Reader
    from ome_zarr_models import open_ome_zarr
    from ome_zarr_models.v05.image import Image

    rgb = gradient(150, 190, channels=3)
    for name, image in (("gray.zarr", gradient(300, 200)), ("rgb.zarr", rgb)):
        out = write_ome_zarr(
            da.from_array(image, chunks=64), tmp_path / name, um_per_px=0.5, options=SMALL
        )
        model = open_ome_zarr(zarr.open_group(out, mode="r"))
        assert isinstance(model, Image)
        node = next(iter(Reader(parse_url(str(out)))()))
        first = np.asarray(node.data[0])
        expected = image if image.ndim == 2 else np.moveaxis(image, -1, 0)
        np.testing.assert_array_equal(first, expected)


def test_unknown_pixel_size_writes_pixel_scales(tmp_path: Path) -> None:
    out = write_ome_zarr(
        da.from_array(gradient(80, 80)), tmp_path / "a.zarr", um_per_px=None, options=SMALL
    )
    multiscale = json.loads((out / "zarr.json").read_text())["attributes"]["ome"]["multiscales"][0]
    assert all("unit" not in axis for axis in multiscale["axes"])
    assert open_mosaic(out).info.um_per_px is None


def test_interrupted_write_leaves_nothing(tmp_path: Path) -> None:
    def explode(block: np.ndarray) -> np.ndarray:
        if block[0, 0] == 255:
            raise RuntimeError("disk on fire")
        return block

    image = np.zeros((256, 256), np.uint8)
    image[200, 200:] = 255
    image[128, 128] = 255  # the first pixel of the last block
    data = da.from_array(image, chunks=128).map_blocks(explode, dtype=np.uint8)
    with pytest.raises(RuntimeError, match="disk on fire"):
        write_ome_zarr(data, tmp_path / "a.zarr", um_per_px=0.5, options=SMALL)
    assert list(tmp_path.iterdir()) == []


def test_conversion_reads_in_bounded_regions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Memory is bounded by region size: no read is larger than one block."""
    sizes: list[int] = []
    original = _source.RegionSource.__getitem__

    def spy(self: _source.RegionSource, key: tuple[slice, ...]) -> np.ndarray:
        region = original(self, key)
        sizes.append(region.size)
        return region

    monkeypatch.setattr(_source, "DEFAULT_REGION", 64)
    monkeypatch.setattr(_source.RegionSource, "__getitem__", spy)
    source = write_bmp(tmp_path / "a.bmp", gradient(500, 300))
    mosaic = open_mosaic(source)
    write_ome_zarr(
        mosaic.data,
        tmp_path / "a.zarr",
        um_per_px=None,
        options=ZarrWriteOptions(chunk=64, shard=64, max_top_edge=40),
    )
    assert len(sizes) == 8 * 5 and max(sizes) <= 64 * 64


@given(st.integers(1, 5000), st.integers(1, 5000), st.integers(1, 3000))
def test_pyramid_shapes(height: int, width: int, top: int) -> None:
    shapes = pyramid_shapes((height, width), top)
    assert shapes[0] == (height, width)
    assert max(shapes[-1]) <= top
    assert len(shapes) == 1 or max(shapes[-2]) > top
    for bigger, smaller in itertools.pairwise(shapes):
        assert smaller == ((bigger[0] + 1) // 2, (bigger[1] + 1) // 2)


@settings(max_examples=50)
@given(
    st.integers(1, 40),
    st.integers(1, 40),
    st.integers(0, 65535),
    st.sampled_from(["uint8", "uint16", "float32"]),
)
def test_downsample_keeps_constants_and_range(
    height: int, width: int, value: int, dtype: str
) -> None:
    top = np.iinfo(dtype).max if dtype != "float32" else 65535
    image = np.full((height, width), min(value, top), dtype)
    half = downsample_mean(image)
    assert half.shape == ((height + 1) // 2, (width + 1) // 2)
    assert half.dtype == image.dtype
    np.testing.assert_array_equal(half, image[: half.shape[0], : half.shape[1]])
    noisy = gradient(height, width, dtype="uint16")
    assert downsample_mean(noisy).max() <= noisy.max()


def test_options_are_validated() -> None:
    with pytest.raises(ValueError, match="power of two"):
        ZarrWriteOptions(chunk=1000)
    with pytest.raises(ValueError, match="shard"):
        ZarrWriteOptions(chunk=1024, shard=512)


def test_bool_levels_take_the_majority_of_each_2x2_group() -> None:
    """One set pixel of four is not a set pixel one level down (half or more is)."""
    block = np.zeros((4, 4), bool)
    block[0, 0] = True  # one of four
    block[2:4, 2] = True  # two of four
    np.testing.assert_array_equal(downsample_mean(block), [[False, False], [False, True]])
