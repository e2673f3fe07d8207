"""Deterministic, chunk-independent random fields for synthetic mosaics.

Every random value is a hash of (seed, salt, integer lattice coordinates), so
any block of a mosaic can be rendered on its own and blocks meet seamlessly.
"""

from __future__ import annotations

from typing import Any

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def _splitmix(z: Any) -> Any:
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


def hash_uniform(seed: int, salt: int, *coords: np.ndarray) -> np.ndarray:
    """Uniform [0, 1) values, one per element of the broadcast integer `coords`."""
    with np.errstate(over="ignore"):
        state = _splitmix(np.uint64(seed) * _GOLDEN + np.uint64(salt))
        for coord in coords:
            state = _splitmix(
                state ^ (np.asarray(coord).astype(np.int64).view(np.uint64) * _GOLDEN)
            )
    return ((state >> np.uint64(11)).astype(np.float64) * 2.0**-53).astype(np.float32)


def value_noise(ys: np.ndarray, xs: np.ndarray, spacing: float, seed: int, salt: int) -> np.ndarray:
    """Smooth noise in [0, 1] on the grid ``ys x xs`` (1-D pixel coordinates).

    Lattice values every `spacing` pixels, interpolated with a smoothstep.
    """
    fy, fx = ys / spacing, xs / spacing
    iy, ix = np.floor(fy).astype(np.int64), np.floor(fx).astype(np.int64)
    y0, x0 = int(iy.min()), int(ix.min())
    lattice = hash_uniform(
        seed,
        salt,
        np.arange(y0, int(iy.max()) + 2)[:, None],
        np.arange(x0, int(ix.max()) + 2)[None, :],
    )
    wy, wx = _smoothstep(fy - iy)[:, None], _smoothstep(fx - ix)[None, :]
    ry, rx = iy - y0, ix - x0
    # Separable: interpolate every lattice row along x once, then pick rows for y
    # (the same arithmetic per pixel as the 2-D form, with two row gathers).
    along = lattice.take(rx, axis=1) * (1 - wx) + lattice.take(rx + 1, axis=1) * wx
    top, bottom = along.take(ry, axis=0), along.take(ry + 1, axis=0)
    return (top * (1 - wy) + bottom * wy).astype(np.float32)


def _smoothstep(t: np.ndarray) -> np.ndarray:
    return (t * t * (3 - 2 * t)).astype(np.float32)


def voronoi_cells(
    ys: np.ndarray, xs: np.ndarray, spacing: float, jitter: float, seed: int, salt: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cells around jittered lattice sites on the grid ``ys x xs``.

    Returns:
        ``(d1, d2, site)``: distance to the nearest and second-nearest site, and a
        uniform [0, 1) value identifying the nearest site (per-cell randomness).

    """
    gy = np.floor(ys / spacing).astype(np.int64)
    gx = np.floor(xs / spacing).astype(np.int64)
    y0, x0 = int(gy.min()) - 1, int(gx.min()) - 1
    lat_y = np.arange(y0, int(gy.max()) + 2)[:, None]
    lat_x = np.arange(x0, int(gx.max()) + 2)[None, :]
    jitter_y = jitter * (hash_uniform(seed, salt, lat_y, lat_x) - 0.5)
    jitter_x = jitter * (hash_uniform(seed, salt + 1, lat_y, lat_x) - 0.5)
    site_y = ((lat_y + 0.5 + jitter_y) * spacing).astype(np.float32)
    site_x = ((lat_x + 0.5 + jitter_x) * spacing).astype(np.float32)
    site_id = hash_uniform(seed, salt + 2, lat_y, lat_x)
    py, px = ys.astype(np.float32)[:, None], xs.astype(np.float32)[None, :]
    best = np.full((len(ys), len(xs)), np.inf, np.float32)
    second = best.copy()
    nearest = np.zeros_like(best)
    for dy in (-1, 0, 1):
        # Gather rows first, then columns: two cheap takes instead of one 2-D fancy index.
        rows = gy - y0 + dy
        row_y, row_x, row_id = site_y[rows], site_x[rows], site_id[rows]
        for dx in (-1, 0, 1):
            cols = gx - x0 + dx
            dist2 = np.square(py - row_y.take(cols, axis=1))
            dist2 += np.square(px - row_x.take(cols, axis=1))
            closer = dist2 < best
            np.copyto(second, np.where(closer, best, np.minimum(second, dist2)))
            np.copyto(nearest, row_id.take(cols, axis=1), where=closer)
            np.copyto(best, dist2, where=closer)
    return np.sqrt(best), np.sqrt(second), nearest
