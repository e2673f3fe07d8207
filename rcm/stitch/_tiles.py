"""Tile values painted into a map aligned with the mosaic, blended where tiles overlap."""

from __future__ import annotations

from typing import Literal

import numpy as np

Blend = Literal["mean", "gaussian"]


def tile_weight(height: int, width: int, blend: Blend) -> np.ndarray:
    """Weight of each pixel of a tile when overlapping tiles are averaged."""
    if blend == "mean":
        return np.ones((height, width), np.float32)

    def profile(size: int) -> np.ndarray:
        centre = (np.arange(size, dtype=np.float32) + 0.5) / size - 0.5
        return np.exp(-0.5 * (centre / 0.25) ** 2)  # sigma: a quarter of the tile

    return np.outer(profile(height), profile(width)).astype(np.float32)


def paint_tiles(
    windows: np.ndarray,
    values: np.ndarray,
    map_shape: tuple[int, int],
    scale: int,
    blend: Blend = "mean",
) -> np.ndarray:
    """A float32 map of `values` (one per window), NaN where no window reaches.

    Args:
        windows: ``(n, 4)`` ``[y0, x0, y1, x1]`` in mosaic pixels.
        values: ``(n,)`` value of each window.
        map_shape: Map size in map pixels.
        scale: Mosaic pixels per map pixel; window edges are rounded to it.
        blend: How overlapping windows combine.

    """
    total = np.zeros(map_shape, np.float64)
    weight = np.zeros(map_shape, np.float64)
    height, width = map_shape
    for (y0, x0, y1, x1), value in zip(windows // scale, values, strict=True):
        top, left = max(int(y0), 0), max(int(x0), 0)
        bottom, right = min(int(y1), height), min(int(x1), width)
        if bottom <= top or right <= left:
            continue
        w = tile_weight(int(y1 - y0), int(x1 - x0), blend)
        w = w[top - y0 : bottom - y0, left - x0 : right - x0]
        total[top:bottom, left:right] += w * float(value)
        weight[top:bottom, left:right] += w
    with np.errstate(invalid="ignore", divide="ignore"):
        painted = total / weight
    painted[weight == 0] = np.nan
    return painted.astype(np.float32)
