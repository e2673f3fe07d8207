"""The pixels of one synthetic lesion: body colour, texture layers, a soft border, its mask.

Everything is computed on the lesion's own window of the image (vectorised
numpy), from the outline's normalised distance field and hash-seeded noise
(`rcm.data._noise`), so a lesion depends only on its photograph's seed.
"""

from __future__ import annotations

import math

import numpy as np

from rcm.data._noise import value_noise, voronoi_cells
from rcm.data._synth_photo_looks import LOOKS, Texture, Tint
from rcm.data._synth_photo_shapes import LesionShape

_MIN_SPACING = 1.5  # pixels: finer textures alias into noise
_RAMP = 0.06  # noise units over which a blotch fades in


def tinted(skin: np.ndarray, tint: Tint) -> np.ndarray:
    """The tint's colour over `skin` (``(3, h, w)`` float32, 0..255)."""
    transmit = np.asarray(tint.transmit, np.float32)[:, None, None] * (1.0 - tint.weight)
    paint = np.asarray(tint.paint, np.float32)[:, None, None] * tint.weight
    return skin * transmit + paint


def paint_lesion(
    image: np.ndarray,
    labels: np.ndarray,
    shape: LesionShape,
    label: int,
    scale: float,
    seed: int,
) -> tuple[int, int, int, int] | None:
    """Draw a lesion into `image` (in place) and its pixels into `labels`.

    Args:
        image: ``(3, H, W)`` float32 skin, 0..255 (channels first: fast broadcasting).
        labels: ``(H, W)`` uint8 lesion numbers (0 = none), written where the lesion is.
        shape: The outline, inside the image.
        label: This lesion's number in `labels` (also salts its noise).
        scale: Texture scale: the image's short side over 240, times its zoom.
        seed: The photograph's noise seed.

    Returns:
        The tight box of the lesion's pixels, ``(x_min, y_min, x_max, y_max)`` in
        continuous pixels (exclusive maxima), or None if it covers no pixel.

    """
    height, width = labels.shape
    row0, row1, col0, col1 = shape.window(width, height)
    rows, cols = np.arange(row0, row1), np.arange(col0, col1)
    distance = shape.field(rows, cols)
    inside = distance <= 1.0
    if not inside.any():
        return None
    look = LOOKS[shape.category]
    skin = image[:, row0:row1, col0:col1]
    colour = tinted(skin, look.body)
    for number, texture in enumerate(look.textures):
        share = _layer(texture, rows, cols, distance, shape, scale, seed, label * 16 + number)
        colour += (tinted(skin, texture.tint) - colour) * (share * texture.strength)
    alpha = np.clip((1.0 - distance) * (shape.radius / look.edge) + 0.5, 0.0, 1.0)
    skin += (colour - skin) * alpha
    labels[row0:row1, col0:col1][inside] = label
    hit_rows, hit_cols = np.flatnonzero(inside.any(axis=1)), np.flatnonzero(inside.any(axis=0))
    return (
        col0 + int(hit_cols[0]),
        row0 + int(hit_rows[0]),
        col0 + int(hit_cols[-1]) + 1,
        row0 + int(hit_rows[-1]) + 1,
    )


def _layer(
    texture: Texture,
    rows: np.ndarray,
    cols: np.ndarray,
    distance: np.ndarray,
    shape: LesionShape,
    scale: float,
    seed: int,
    salt: int,
) -> np.ndarray:
    """Where the texture is on (0..1) over the window, times its region's weight."""
    spacing = max(_MIN_SPACING, texture.size * scale)
    share = _pattern(texture, rows, cols, distance, shape, spacing, scale, seed, 1000 + salt * 8)
    if texture.region == "core":
        share = share * np.clip((0.8 - distance) / 0.25, 0.0, 1.0)
    elif texture.region == "rim":
        share = share * np.clip((distance - 0.55) / 0.25, 0.0, 1.0)
    return share.astype(np.float32)


def _pattern(
    texture: Texture,
    rows: np.ndarray,
    cols: np.ndarray,
    distance: np.ndarray,
    shape: LesionShape,
    spacing: float,
    scale: float,
    seed: int,
    salt: int,
) -> np.ndarray:
    """The texture's pattern alone (0..1), before its region weight."""
    kind, amount = texture.kind, texture.amount
    if kind == "centre":
        return np.clip((amount - distance) / 0.1 + 0.5, 0.0, 1.0)
    if kind == "rim":
        return np.clip((distance - (1.0 - amount)) / 0.1 + 0.5, 0.0, 1.0)
    if kind in ("dots", "network", "cells"):
        nearest, second, site = voronoi_cells(rows, cols, spacing, 0.8, seed, salt)
        if kind == "dots":
            return np.clip(0.25 * spacing - nearest + 0.5, 0.0, 1.0) * (site < amount)
        if kind == "network":
            return np.clip(1.0 - (second - nearest) / (2.0 * amount * scale), 0.0, 1.0)
        return site
    noise = value_noise(rows, cols, spacing, seed, salt)
    if kind == "blotch":
        threshold = 0.5 + (0.5 - amount) * 0.6
        return np.clip((noise - threshold) / _RAMP, 0.0, 1.0)
    if kind == "lines":
        return np.clip(1.0 - np.abs(noise - 0.5) / amount, 0.0, 1.0)
    if kind == "ridges":
        return np.clip(np.sin(noise * (20.0 * math.pi * amount)), 0.0, 1.0)
    # stripes: parallel lines across the long axis, warped by the noise (fingerprint)
    along = (cols[None, :] + 0.5) * math.cos(shape.angle) + (rows[:, None] + 0.5) * math.sin(
        shape.angle
    )
    phase = along * (2.0 * math.pi / spacing) + 6.0 * value_noise(
        rows, cols, spacing * 4, seed, salt
    )
    return np.clip((np.cos(phase) - (1.0 - 2.0 * amount)) / 0.3, 0.0, 1.0)
