"""Nearest-neighbour resizing between maps that cover the same mosaic at different scales."""

from __future__ import annotations

import numpy as np


def resize_nearest(array: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """`array` (2-D, or channels last) resized to `shape` by sampling at pixel centres."""
    rows = ((np.arange(shape[0]) + 0.5) * array.shape[0] / shape[0]).astype(np.int64)
    cols = ((np.arange(shape[1]) + 0.5) * array.shape[1] / shape[1]).astype(np.int64)
    return array[
        rows.clip(0, array.shape[0] - 1)[:, None], cols.clip(0, array.shape[1] - 1)[None, :]
    ]
