"""A crop gallery: the highest-scoring explained tiles, each beside its map over the tile."""

from __future__ import annotations

import os

import numpy as np
from matplotlib import colormaps
from PIL import Image, ImageDraw

from rcm.render._overlay import stretched_gray

EDGE = 160  # gallery cell edge in pixels
COLUMNS = 4


def write_gallery(
    path: str | os.PathLike[str],
    crops: list[tuple[float, np.ndarray, np.ndarray]],
    *,
    alpha: float = 0.5,
) -> None:
    """Write a PNG grid: per tile its crop (gray) and the map over it, score underneath.

    Args:
        path: PNG to write.
        crops: ``(score, tile pixels, map over the tile in [0, 1])``, best first; the
            tile (as read from the mosaic) and its map (at the model's input size)
            may differ in size: both are resized to the cell.
        alpha: Opacity of the map over the tile.

    """
    rows = max(1, -(-len(crops) // COLUMNS))
    canvas = Image.new("RGB", (COLUMNS * 2 * EDGE, rows * (EDGE + 16)), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    lut = colormaps["inferno"](np.linspace(0, 1, 256))[:, :3]
    if not crops:
        draw.text((8, 8), "no tile reached the cut: nothing to explain", fill=(0, 0, 0))
    for number, (score, tile, tile_map) in enumerate(crops):
        base = np.repeat(_cell(stretched_gray(tile))[..., None], 3, axis=-1)
        colours = lut[np.round(np.clip(_cell(tile_map), 0, 1) * 255).astype(np.uint8)]
        over = (1 - alpha) * base + alpha * colours
        left = (number % COLUMNS) * 2 * EDGE
        top = (number // COLUMNS) * (EDGE + 16)
        for offset, image in ((0, base), (EDGE, over)):
            canvas.paste(
                Image.fromarray(np.round(image * 255).astype(np.uint8)), (left + offset, top)
            )
        draw.text((left + 4, top + EDGE + 2), f"p = {score:.3f}", fill=(0, 0, 0))
    canvas.save(path, format="PNG")


def _cell(values: np.ndarray) -> np.ndarray:
    """`values` (2-D floats) resized to the cell's edge, bilinear: tile and map at any size."""
    image = Image.fromarray(np.ascontiguousarray(values, np.float32), mode="F")
    return np.asarray(image.resize((EDGE, EDGE), Image.Resampling.BILINEAR))
