"""Shared fixtures: small sample images written in every supported format."""

from __future__ import annotations

import numpy as np
import pytest


def gradient(
    height: int, width: int, channels: int = 0, dtype: str = "uint8", seed: int = 0
) -> np.ndarray:
    """A deterministic image with structure and noise, so misplaced pixels are caught."""
    rng = np.random.default_rng(seed)
    top = np.iinfo(dtype).max
    yy, xx = np.mgrid[0:height, 0:width]
    base = (yy * 7 + xx * 3) % (top + 1)
    shape = (height, width) if not channels else (height, width, channels)
    noise = rng.integers(0, top + 1, size=shape, dtype=np.int64)
    image = noise if channels else (base + noise) % (top + 1)
    return image.astype(dtype)


@pytest.fixture
def sample_gray() -> np.ndarray:
    return gradient(301, 257)
