from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rcm.tiling import TileGrid, axis_starts, tile_px_for

sizes = st.integers(1, 3000)
tiles = st.integers(1, 600)


@given(sizes, tiles, st.integers(1, 600))
def test_pad_covers_every_pixel_and_starts_inside(length: int, tile: int, stride: int) -> None:
    starts = axis_starts(length, tile, stride, "pad")
    covered = np.zeros(length, bool)
    for start in starts:
        covered[start : start + tile] = True
    assert starts.min() == 0 and starts.max() < length
    if stride <= tile:
        assert covered.all()
    if stride <= tile:
        assert starts[-1] + tile >= length
        assert len(starts) == 1 + max(0, -(-(length - tile) // stride))


@given(sizes, tiles, st.integers(1, 600))
def test_drop_stays_inside(length: int, tile: int, stride: int) -> None:
    starts = axis_starts(length, tile, stride, "drop")
    assert np.all(starts + tile <= length)
    assert len(starts) == (0 if length < tile else (length - tile) // stride + 1)


@given(sizes, tiles, st.integers(1, 600))
def test_shift_stays_inside_and_reaches_the_edge(length: int, tile: int, stride: int) -> None:
    starts = axis_starts(length, tile, stride, "shift")
    if length >= tile:
        assert np.all(starts + tile <= length) and starts[-1] + tile == length
        assert np.all(np.diff(starts) > 0)


@given(
    st.integers(1, 900),
    st.integers(1, 900),
    st.integers(8, 300),
    st.floats(0, 0.9),
    st.sampled_from(["pad", "drop", "shift"]),
)
def test_grid_windows(height: int, width: int, tile: int, overlap: float, edge: str) -> None:
    grid = TileGrid.with_overlap(height, width, tile, overlap, edge)  # type: ignore[arg-type]
    windows, positions = grid.windows(), grid.positions()
    assert len(windows) == len(positions) == len(grid) == grid.shape[0] * grid.shape[1]
    if len(windows):
        assert np.all(windows[:, 2] - windows[:, 0] == tile)
        assert np.all(windows[:, :2] >= 0)
        assert np.all(windows[:, 0] < height) and np.all(windows[:, 1] < width)
        rows, cols = grid.shape
        assert positions[-1].tolist() == [rows - 1, cols - 1]


def test_microns() -> None:
    assert tile_px_for(112.0, 0.5) == 224
    with pytest.raises(ValueError, match="pixel size"):
        tile_px_for(112.0, None)


def test_invalid() -> None:
    with pytest.raises(ValueError):
        TileGrid(10, 10, 0, 1)
    with pytest.raises(ValueError):
        TileGrid.with_overlap(10, 10, 4, 1.0)
