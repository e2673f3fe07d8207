"""Heatmap over a mosaic thumbnail, as a PNG any browser or viewer opens; object outlines."""

from __future__ import annotations

import os

import numpy as np
from matplotlib import colormaps
from PIL import Image, ImageDraw

from rcm.render._colours import class_colour
from rcm.stitch import Instances, resize_nearest


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


def draw_boxes(
    path: str | os.PathLike[str], instances: Instances, scale: tuple[float, float]
) -> None:
    """Outline each object (mosaic pixels) on the overlay PNG at `path`, in its class colour.

    Args:
        path: The overlay, rewritten in place.
        instances: Objects in mosaic pixels.
        scale: Mosaic pixels per overlay pixel, ``(y, x)``.

    """
    if not len(instances):
        return
    image = Image.open(path).convert("RGB")
    draw = ImageDraw.Draw(image)
    sy, sx = scale
    for box, label in zip(instances.boxes, instances.labels, strict=True):
        x0, y0, x1, y1 = box
        draw.rectangle(
            (x0 / sx, y0 / sy, max(x0 / sx, x1 / sx - 1), max(y0 / sy, y1 / sy - 1)),
            outline=class_colour(int(label)),
        )
    image.save(path, format="PNG")
