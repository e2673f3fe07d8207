"""Heatmap over a mosaic thumbnail, as a PNG any browser or viewer opens."""

from __future__ import annotations

import os

import numpy as np
from matplotlib import colormaps
from PIL import Image

from rcm.stitch import resize_nearest


def heatmap_overlay(
    thumbnail: np.ndarray,
    dtype: str,
    heat: np.ndarray,
    path: str | os.PathLike[str],
    *,
    alpha: float = 0.5,
    colormap: str = "inferno",
) -> None:
    """Write `thumbnail` (float, source units) in gray with `heat` ([0, 1], NaN = none) over it.

    The heatmap is resized to the thumbnail (nearest neighbour); the thumbnail
    is contrast-stretched between its 1st and 99.5th percentiles.
    """
    gray = thumbnail if thumbnail.ndim == 2 else thumbnail[..., :3].mean(axis=-1)
    low, high = np.percentile(gray, [1.0, 99.5]) if gray.size else (0.0, 1.0)
    gray = np.clip((gray - low) / max(high - low, 1e-6), 0, 1)
    base = np.repeat(gray[..., None], 3, axis=-1)
    resized = resize_nearest(heat, gray.shape) if heat.size else np.full(gray.shape, np.nan)
    covered = ~np.isnan(resized)
    lut = colormaps[colormap](np.linspace(0, 1, 256))[:, :3]
    colours = lut[np.clip(np.nan_to_num(resized) * 255, 0, 255).astype(np.uint8)]
    blended = np.where(covered[..., None], (1 - alpha) * base + alpha * colours, base)
    Image.fromarray(np.round(blended * 255).astype(np.uint8)).save(path, format="PNG")
