from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import zarr
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage
from zarr.core.buffer import Buffer

from rcm.stitch._blend import BlendedMap, average_pool
from rcm.stitch._tiles import Blend, tile_weight
from rcm.tiling import TileGrid

RADIUS = 2
KERNELS = np.random.default_rng(0).normal(size=(2, 2 * RADIUS + 1, 2 * RADIUS + 1))


class CountingStore(zarr.storage.MemoryStore):
    """An in-memory store that counts writes per key."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: Counter[str] = Counter()

    async def set(self, key: str, value: Buffer, byte_range: tuple[int, int] | None = None) -> None:
        self.writes[key] += 1
        await super().set(key, value, byte_range)


def create_target(
    shape: tuple[int, int], channels: int, chunk: int, store: zarr.storage.StoreLike | None = None
) -> zarr.Array:
    return zarr.create_array(
        store=store if store is not None else zarr.storage.MemoryStore(),
        shape=(*shape, channels),
        chunks=(chunk, chunk, channels),
        dtype="float32",
        fill_value=float("nan"),
    )


def stored(target: zarr.Array) -> np.ndarray:
    return np.asarray(target[...])


def model(image: np.ndarray) -> np.ndarray:
    """A translation-equivariant two-channel model: fixed 5x5 correlations, zero padding."""
    return np.stack([ndimage.correlate(image, k, mode="constant") for k in KERNELS])


def read_window(image: np.ndarray, window: np.ndarray) -> np.ndarray:
    """The window's pixels, padded with zeros past the image as the reader does."""
    y0, x0, y1, x1 = (int(v) for v in window)
    out = np.zeros((y1 - y0, x1 - x0), image.dtype)
    part = image[y0:y1, x0:x1]
    out[: part.shape[0], : part.shape[1]] = part
    return out


@settings(max_examples=60, deadline=None)
@given(
    data=st.data(),
    height=st.integers(9, 47),
    width=st.integers(9, 47),
    scale=st.sampled_from([1, 2]),
    blend=st.sampled_from(["constant", "cosine", "gaussian"]),
    chunk=st.sampled_from([3, 8, 64]),
)
def test_blended_windows_equal_the_model_on_the_whole_image(
    data: st.DataObject, height: int, width: int, scale: int, blend: Blend, chunk: int
) -> None:
    margin = data.draw(st.integers(-(-RADIUS // scale), 3), label="margin (map px)")
    window = data.draw(st.integers(2 * margin + 2, 2 * margin + 13), label="window (map px)")
    stride = data.draw(st.integers(2, window - 2 * margin), label="stride (map px)")
    grid = TileGrid.with_overlap(height, width, window * scale, 1 - stride / window, edge="pad")
    assert grid.stride == stride * scale
    windows = grid.windows()
    order = np.array(data.draw(st.permutations(range(len(windows))), label="order"))
    image = np.random.default_rng(height * 100 + width).random((height, width))
    map_shape = (-(-height // scale), -(-width // scale))
    target = create_target(map_shape, 2, chunk)

    blended = BlendedMap(target, windows, order, scale=scale, blend=blend, margin=margin)
    for index in order:
        output = model(read_window(image, windows[index])).astype(np.float32)
        blended.add(int(index), average_pool(output, scale))
    blended.finish()

    # Pixels past the image are zeros for the whole-image model as for the windows.
    padded = np.zeros((map_shape[0] * scale, map_shape[1] * scale))
    padded[:height, :width] = image
    expected = np.moveaxis(average_pool(model(padded), scale), 0, -1)
    np.testing.assert_allclose(stored(target), expected, rtol=1e-5, atol=1e-5)


@settings(max_examples=30, deadline=None)
@given(
    data=st.data(), height=st.integers(5, 40), width=st.integers(5, 40), margin=st.integers(0, 3)
)
def test_pixels_of_added_windows_get_a_value_and_others_stay_nan(
    data: st.DataObject, height: int, width: int, margin: int
) -> None:
    """Only some windows run (tissue): sides next to a skipped window keep their weight."""
    grid = TileGrid(height, width, 10, 6, edge="pad")
    windows = grid.windows()
    chosen = data.draw(st.sets(st.integers(0, len(windows) - 1)), label="windows added")
    order = np.array(sorted(chosen), dtype=np.int64)
    target = create_target((height, width), 1, 4)
    blended = BlendedMap(target, windows, order, blend="cosine", margin=margin)
    for index in order:
        blended.add(int(index), np.full((1, 10, 10), index, np.float32))
    blended.finish()

    covered = np.zeros((height, width), bool)
    for y0, x0, y1, x1 in windows[order]:
        covered[y0:y1, x0:x1] = True
    stitched = stored(target)[..., 0]
    assert np.array_equal(np.isfinite(stitched), covered)
    if order.size:  # a weighted mean stays within the values blended
        low, high = order.min() * (1 - 1e-6), order.max() * (1 + 1e-6)
        assert low <= stitched[covered].min() <= stitched[covered].max() <= high


def test_overlapping_values_are_weighted_means() -> None:
    windows = np.array([[0, 0, 4, 4], [0, 2, 4, 6]])
    target = create_target((4, 6), 1, 2)
    blended = BlendedMap(target, windows, np.array([1, 0]), blend="cosine")
    blended.add(1, np.full((1, 4, 4), 3.0, np.float32))
    blended.add(0, np.full((1, 4, 4), 1.0, np.float32))
    blended.finish()
    w = tile_weight(4, 4, "cosine")
    seam = (w[:, 2:] * 1.0 + w[:, :2] * 3.0) / (w[:, 2:] + w[:, :2])
    np.testing.assert_allclose(stored(target)[:, 2:4, 0], seam, rtol=1e-6)
    np.testing.assert_allclose(stored(target)[:, :2, 0], 1.0, rtol=1e-6)
    np.testing.assert_allclose(stored(target)[:, 4:, 0], 3.0, rtol=1e-6)


def test_margin_drops_interior_sides_only() -> None:
    """Two windows side by side: each loses the margin where the other continues the map."""
    windows = np.array([[0, 0, 6, 8], [0, 4, 6, 12]])
    target = create_target((6, 12), 1, 16)
    blended = BlendedMap(target, windows, np.array([0, 1]), blend="constant", margin=2)
    blended.add(0, np.full((1, 6, 8), 1.0, np.float32))
    blended.add(1, np.full((1, 6, 8), 2.0, np.float32))
    blended.finish()
    expected = np.repeat([[1.0] * 6 + [2.0] * 6], 6, axis=0)
    np.testing.assert_array_equal(stored(target)[..., 0], expected)


def run_row_major(height: int, width: int, chunk: int, store: zarr.storage.StoreLike) -> BlendedMap:
    grid = TileGrid(height, width, 24, 16, edge="pad")
    windows = grid.windows()
    target = create_target((height, width), 1, chunk, store)
    blended = BlendedMap(target, windows, np.arange(len(windows)), blend="cosine", margin=4)
    for index in range(len(windows)):
        blended.add(index, np.ones((1, 24, 24), np.float32))
        assert blended.chunks_in_flight <= blended.peak_chunks_in_flight
    blended.finish()
    assert blended.chunks_in_flight == 0
    np.testing.assert_allclose(stored(target), 1.0, rtol=1e-6)
    return blended


def test_chunks_are_written_once_as_soon_as_complete() -> None:
    height, width, chunk = 160, 64, 8
    store = CountingStore()
    blended = run_row_major(height, width, chunk, store)
    columns = width // chunk
    # Row-major windows keep a band of about (window + chunk) rows in flight.
    assert blended.peak_chunks_in_flight <= (-(-24 // chunk) + 2) * columns
    assert blended.peak_chunks_in_flight < (height // chunk) * columns / 4
    chunk_keys = [key for key in store.writes if key.startswith("c/")]
    assert len(chunk_keys) == blended.chunks_written == (height // chunk) * columns
    assert set(store.writes[key] for key in chunk_keys) == {1}


def test_chunks_in_flight_do_not_grow_with_the_map_height() -> None:
    short = run_row_major(96, 64, 8, zarr.storage.MemoryStore())
    tall = run_row_major(480, 64, 8, zarr.storage.MemoryStore())
    assert tall.peak_chunks_in_flight == short.peak_chunks_in_flight


def test_finish_raises_for_a_window_never_added_and_untouched_chunks_stay_nan() -> None:
    windows = np.array([[0, 0, 4, 4], [0, 4, 4, 8], [8, 8, 12, 12]])
    target = create_target((16, 16), 1, 4)
    blended = BlendedMap(target, windows, np.array([0, 1]))
    blended.add(0, np.ones((1, 4, 4), np.float32))
    with pytest.raises(RuntimeError, match="1 of 2 announced windows were never added"):
        blended.finish()
    blended.add(1, np.ones((1, 4, 4), np.float32))
    blended.finish()
    stitched = stored(target)[..., 0]
    np.testing.assert_array_equal(stitched[:4, :8], 1.0)
    assert np.isnan(stitched[4:]).all() and np.isnan(stitched[:, 8:]).all()
    assert blended.chunks_written == 2


def test_bad_input_is_refused() -> None:
    windows = np.array([[0, 0, 4, 4], [0, 4, 4, 8]])
    target = create_target((4, 8), 1, 4)
    with pytest.raises(ValueError, match="multiples of scale"):
        BlendedMap(target, windows + 1, np.array([0]), scale=2)
    with pytest.raises(ValueError, match="distinct"):
        BlendedMap(target, windows, np.array([0, 0]))
    with pytest.raises(ValueError, match="outside"):
        BlendedMap(target, windows, np.array([2]))
    zeros = zarr.create_array(zarr.storage.MemoryStore(), shape=(4, 8, 1), dtype="float32")
    with pytest.raises(ValueError, match="fill value must be NaN"):
        BlendedMap(zeros, windows, np.array([0]))
    blended = BlendedMap(target, windows, np.array([0]))
    with pytest.raises(ValueError, match="shape"):
        blended.add(0, np.ones((2, 4, 4), np.float32))
    with pytest.raises(ValueError, match="not announced"):
        blended.add(1, np.ones((1, 4, 4), np.float32))
    blended.add(0, np.ones((1, 4, 4), np.float32))
    with pytest.raises(ValueError, match="added already"):
        blended.add(0, np.ones((1, 4, 4), np.float32))


def test_average_pool() -> None:
    values = np.arange(2 * 4 * 6, dtype=np.float32).reshape(2, 4, 6)
    pooled = average_pool(values, 2)
    assert pooled.shape == (2, 2, 3) and pooled.dtype == np.float32
    assert pooled[1, 1, 2] == values[1, 2:4, 4:6].mean()
    with pytest.raises(ValueError, match="multiple"):
        average_pool(values, 4)


@pytest.mark.parametrize("blend", ["constant", "cosine", "gaussian"])
def test_tile_weight_profiles_and_margins(blend: Blend) -> None:
    weight = tile_weight(7, 9, blend)
    assert weight.dtype == np.float32 and (weight > 0).all()
    np.testing.assert_allclose(weight, weight[::-1, ::-1], rtol=1e-6)  # symmetric
    assert weight[3, 4] == weight.max()
    cropped = tile_weight(7, 9, blend, (1, 0, 2, 3))
    assert (cropped[:1] == 0).all() and (cropped[5:] == 0).all() and (cropped[:, 6:] == 0).all()
    np.testing.assert_array_equal(cropped[1:5, :6], weight[1:5, :6])
    assert (tile_weight(4, 4, blend, 9) == 0).all()


def test_cosine_weight_is_sin_squared() -> None:
    expected = np.sin(np.pi * (np.arange(5) + 0.5) / 5) ** 2
    np.testing.assert_allclose(tile_weight(1, 5, "cosine")[0], expected, rtol=1e-6)
