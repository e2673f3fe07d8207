"""Heatmap over a mosaic thumbnail, as a PNG any browser or viewer opens."""

from __future__ import annotations

import os

import numpy as np
from matplotlib import colormaps
from PIL import Image

from rcm.stitch import resize_nearest


def stretched_gray(pixels: np.ndarray) -> np.ndarray:
    """Gray in [0, 1], contrast-stretched between the 1st and 99.5th percentiles."""
    values = pixels.astype(np.float32)
    gray = values if values.ndim == 2 else values[..., :3].mean(axis=-1)
    low, high = np.percentile(gray, [1.0, 99.5]) if gray.size else (0.0, 1.0)
    return np.clip((gray - low) / max(float(high - low), 1e-6), 0, 1)


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
    gray = stretched_gray(thumbnail)
    base = np.repeat(gray[..., None], 3, axis=-1)
    resized = resize_nearest(heat, gray.shape) if heat.size else np.full(gray.shape, np.nan)
    covered = ~np.isnan(resized)
    lut = colormaps[colormap](np.linspace(0, 1, 256))[:, :3]
    colours = lut[np.clip(np.nan_to_num(resized) * 255, 0, 255).astype(np.uint8)]
    blended = np.where(covered[..., None], (1 - alpha) * base + alpha * colours, base)
    Image.fromarray(np.round(blended * 255).astype(np.uint8)).save(path, format="PNG")
