"""The one pixel rule (`to_unit`, which training and inference call) and its NumPy form."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rcm.models import to_model_input, to_unit


def test_integers_are_scaled_by_their_type_maximum() -> None:
    eight = np.array([[[0, 255], [51, 102]]], np.uint8)
    sixteen = eight.astype(np.uint16) * 257
    unit = to_unit(torch.from_numpy(eight), 1)
    assert unit.dtype == torch.float32 and unit.shape == (1, 1, 2, 2)
    torch.testing.assert_close(unit, to_unit(torch.from_numpy(sixteen), 1))
    torch.testing.assert_close(unit[0, 0], torch.tensor([[0.0, 1.0], [0.2, 0.4]]))


def test_bool_pixels_are_zero_and_one() -> None:
    bits = np.array([[[False, True], [True, False]]])
    torch.testing.assert_close(
        to_unit(torch.from_numpy(bits), 1)[0, 0], torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    )


def test_gray_is_replicated_for_rgb_models() -> None:
    tiles = torch.arange(24, dtype=torch.uint8).reshape(2, 3, 4)
    out = to_unit(tiles, 3)
    assert out.shape == (2, 3, 3, 4)
    torch.testing.assert_close(out[:, 0], out[:, 2])
    torch.testing.assert_close(out[:, 1], tiles.float() / 255)


def test_rgb_stays_rgb_and_alpha_is_dropped() -> None:
    rgba = torch.zeros((1, 2, 2, 4), dtype=torch.uint8)
    rgba[..., 0], rgba[..., 3] = 255, 7
    out = to_unit(rgba, 3)
    assert out.shape == (1, 3, 2, 2)
    assert torch.all(out[:, 0] == 1.0) and torch.all(out[:, 1:] == 0.0)


def test_rgb_to_gray_is_bt601_luminance() -> None:
    rgb = torch.tensor([[[[255, 0, 0], [0, 255, 0], [0, 0, 255]]]], dtype=torch.uint8)
    out = to_unit(rgb, 1)
    torch.testing.assert_close(out[0, 0, 0], torch.tensor([0.299, 0.587, 0.114]))


def test_numpy_form_is_the_same_rule() -> None:
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 65536, (3, 8, 8, 3), dtype=np.uint16)
    for channels in (1, 3):
        expected = to_unit(torch.from_numpy(rgb), channels).numpy()
        np.testing.assert_array_equal(to_model_input(rgb, channels), expected)
        np.testing.assert_array_equal(to_model_input(rgb[0], channels), expected[0])
    gray = rng.integers(0, 256, (8, 8), dtype=np.uint8)
    assert to_model_input(gray, 3).shape == (3, 8, 8)
    assert to_model_input(gray, 1).dtype == np.float32


def test_rejects_other_channel_counts_and_ranks() -> None:
    with pytest.raises(ValueError, match="1 or 3 channels"):
        to_model_input(np.zeros((2, 2), np.uint8), 2)
    with pytest.raises(ValueError, match="1 or 3 channels"):
        to_unit(torch.zeros((1, 2, 2), dtype=torch.uint8), 4)
    with pytest.raises(ValueError, match="pixels must be"):
        to_model_input(np.zeros(4, np.uint8), 1)


def test_the_rule_matches_its_description_on_random_pixels() -> None:
    """The README's rule, written out independently: scale, then BT.601 or replicate."""
    rng = np.random.default_rng(1)
    rgba = rng.integers(0, 65536, (2, 5, 7, 4), dtype=np.uint16)
    unit = rgba[..., :3].astype(np.float64) / 65535
    gray = unit @ np.array([0.299, 0.587, 0.114])
    np.testing.assert_allclose(to_unit(torch.from_numpy(rgba), 1)[:, 0].numpy(), gray, atol=1e-6)
    np.testing.assert_allclose(
        to_unit(torch.from_numpy(rgba), 3).numpy(), unit.transpose(0, 3, 1, 2), atol=1e-6
    )
    single = rng.integers(0, 256, (2, 5, 7), dtype=np.uint8)
    replicated = to_unit(torch.from_numpy(single), 3).numpy()
    for channel in range(3):
        np.testing.assert_allclose(replicated[:, channel], single / 255, atol=1e-6)
