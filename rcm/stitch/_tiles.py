"""Tile values painted into a map aligned with the mosaic, blended where tiles overlap."""

from __future__ import annotations

from typing import Literal

import numpy as np

Blend = Literal["constant", "cosine", "gaussian"]
"""How a tile's pixels are weighted where tiles overlap.

``constant``: every pixel alike (a plain mean); ``cosine``: separable
``sin^2(pi (i + 0.5) / n)``, highest at the centre and small but never zero at the
edges, so the outer border of a mosaic still gets a value; ``gaussian``: separable
Gaussian with sigma a quarter of the tile.
"""


def tile_weight(
    height: int, width: int, blend: Blend, margin: int | tuple[int, int, int, int] = 0
) -> np.ndarray:
    """Weight of each pixel of a tile when overlapping tiles are averaged.

    Args:
        height: Tile rows.
        width: Tile columns.
        blend: Weight profile.
        margin: Pixels whose weight is zeroed along the edges, where a model sees too
            little context: one number for every side, or ``(top, left, bottom, right)``
            so a caller keeps the sides that nothing else covers (the outer border).

    Returns:
        A float32 ``(height, width)`` array.

    """
    top, left, bottom, right = (margin,) * 4 if isinstance(margin, int) else margin
    if min(top, left, bottom, right) < 0:
        raise ValueError(f"margin must not be negative, got {margin}")
    rows, cols = _profile(height, blend), _profile(width, blend)
    rows[:top], rows[max(height - bottom, 0) :] = 0, 0  # a zero side slices nothing
    cols[:left], cols[max(width - right, 0) :] = 0, 0
    return np.outer(rows, cols).astype(np.float32)


def _profile(size: int, blend: Blend) -> np.ndarray:
    centre = (np.arange(size, dtype=np.float64) + 0.5) / size
    if blend == "constant":
        return np.ones(size)
    if blend == "cosine":
        return np.sin(np.pi * centre) ** 2
    if blend == "gaussian":
        return np.exp(-0.5 * ((centre - 0.5) / 0.25) ** 2)  # sigma: a quarter of the tile
    raise ValueError(f"unknown blend {blend!r}")


def paint_tiles(
    windows: np.ndarray,
    values: np.ndarray,
    map_shape: tuple[int, int],
    scale: int,
    blend: Blend = "constant",
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
