from __future__ import annotations

import numpy as np
import pytest

from rcm.io import to_model_input


def test_gray_8_and_16_bit_give_the_same_input() -> None:
    eight = np.array([[0, 255], [51, 102]], np.uint8)
    sixteen = eight.astype(np.uint16) * 257
    np.testing.assert_allclose(to_model_input(eight, 1), to_model_input(sixteen, 1), atol=1e-7)
    assert to_model_input(eight, 1).shape == (1, 2, 2)
    assert to_model_input(eight, 1).dtype == np.float32


def test_gray_is_replicated_for_rgb_models() -> None:
    tile = np.arange(12, dtype=np.uint8).reshape(3, 4)
    out = to_model_input(tile, 3)
    assert out.shape == (3, 3, 4)
    np.testing.assert_array_equal(out[0], out[2])


def test_rgb_stays_rgb_and_alpha_is_dropped() -> None:
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[..., 0], rgba[..., 3] = 255, 7
    out = to_model_input(rgba, 3)
    assert out.shape == (3, 2, 2)
    np.testing.assert_array_equal(out[0], 1.0)
    np.testing.assert_array_equal(out[1:], 0.0)


def test_rgb_to_gray_is_luminance() -> None:
    rgb = np.full((1, 1, 3), 255, np.uint8)
    assert to_model_input(rgb, 1)[0, 0, 0] == pytest.approx(1.0, abs=1e-6)


def test_batches_keep_their_leading_axis() -> None:
    batch = np.zeros((5, 8, 8, 3), np.uint8)
    assert to_model_input(batch, 3).shape == (5, 3, 8, 8)


def test_rejects_other_channel_counts() -> None:
    with pytest.raises(ValueError):
        to_model_input(np.zeros((2, 2), np.uint8), 2)
