from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from rcm.stitch import paint_tiles
from rcm.tiling import TileGrid


@given(st.integers(20, 200), st.integers(20, 200), st.integers(5, 60), st.sampled_from([1, 2, 4]))
def test_non_overlapping_tiles_are_painted_exactly(
    height: int, width: int, tile: int, scale: int
) -> None:
    grid = TileGrid(height, width, tile * scale, tile * scale)
    values = np.arange(len(grid), dtype=np.float32) / len(grid)
    shape = (-(-height // scale), -(-width // scale))
    painted = paint_tiles(grid.windows(), values, shape, scale)
    expected = np.repeat(np.repeat(values.reshape(grid.shape), tile, 0), tile, 1)
    np.testing.assert_array_equal(painted, expected[: shape[0], : shape[1]])


def test_overlaps_are_averaged_and_gaps_are_nan() -> None:
    windows = np.array([[0, 0, 10, 10], [0, 5, 10, 15]])
    painted = paint_tiles(windows, np.array([0.2, 0.6]), (12, 20), 1)
    np.testing.assert_allclose(painted[0, :5], 0.2)
    np.testing.assert_allclose(painted[0, 5:10], 0.4)
    np.testing.assert_allclose(painted[0, 10:15], 0.6)
    assert np.isnan(painted[0, 15:]).all() and np.isnan(painted[10:]).all()
    constant = paint_tiles(windows, np.array([0.2, 0.6]), (12, 20), 1, blend="constant")
    np.testing.assert_array_equal(constant, painted)  # the default
    for blend in ("cosine", "gaussian"):
        smooth = paint_tiles(windows, np.array([0.2, 0.6]), (12, 20), 1, blend=blend)
        assert 0.2 < smooth[5, 6] < 0.4  # nearer the first tile's centre: closer to its value
