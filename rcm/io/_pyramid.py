"""Resolution pyramids: level shapes and 2x downsampling of one block."""

from __future__ import annotations

import numpy as np


def pyramid_shapes(shape: tuple[int, ...], max_top_edge: int) -> list[tuple[int, ...]]:
    """Shapes of each 2x level (ceil) until the longer edge fits `max_top_edge`."""
    shapes = [tuple(shape)]
    while max(shapes[-1][:2]) > max_top_edge:
        height, width = shapes[-1][:2]
        shapes.append(((height + 1) // 2, (width + 1) // 2, *shape[2:]))
    return shapes


def downsample_mean(block: np.ndarray) -> np.ndarray:
    """Average 2x2 pixel groups (channels last); an odd last row/column is repeated.

    Integers round half up, so a constant image stays constant at every level.
    """
    pad = [(0, block.shape[0] % 2), (0, block.shape[1] % 2)] + [(0, 0)] * (block.ndim - 2)
    if any(after for _, after in pad):
        block = np.pad(block, pad, mode="edge")
    height, width = block.shape[0] // 2, block.shape[1] // 2
    if np.issubdtype(block.dtype, np.integer):
        unsigned_small = block.dtype.kind == "u" and block.dtype.itemsize <= 2
        wide = block.astype(np.uint32 if unsigned_small else np.int64)
        grouped = wide.reshape(height, 2, width, 2, *block.shape[2:])
        return ((grouped.sum(axis=(1, 3)) + 2) // 4).astype(block.dtype)
    grouped = block.reshape(height, 2, width, 2, *block.shape[2:])
    return grouped.mean(axis=(1, 3), dtype=np.float64).astype(block.dtype)


def downsample_nearest(block: np.ndarray) -> np.ndarray:
    """Keep every other pixel: the right rule for label images."""
    return np.ascontiguousarray(block[::2, ::2])
