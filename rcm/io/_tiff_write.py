"""Write a dask array as a tiled (Big)TIFF, streamed band by band."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import dask.array as da
import numpy as np
import tifffile
from tqdm import tqdm

from rcm._dask import local_compute
from rcm.io._atomic import atomic_output

TiffCompression = Literal["none", "zlib", "zstd", "lzw", "jpeg"]


def write_tiff(
    data: da.Array,
    path: str | os.PathLike[str],
    *,
    um_per_px: float | None,
    tile: int = 512,
    compression: TiffCompression = "none",
    overwrite: bool = False,
    progress: bool = False,
    workers: int | None = None,
    description: str | None = None,
) -> Path:
    """Write a (y, x) or (y, x, c) array as a tiled BigTIFF with resolution tags.

    Rows are computed one band of tiles at a time (in parallel within the band),
    so memory holds one band, never the image.

    Args:
        data: Pixels, channels last.
        path: Output file; written under a temporary name, then renamed.
        um_per_px: Written as resolution tags in pixels per centimetre.
        tile: Tile edge in pixels (a multiple of 16).
        compression: Tile codec.
        overwrite: Replace an existing file.
        progress: Show a progress bar over bands.
        workers: Threads computing a band; None uses one per core.
        description: ImageDescription text.

    Returns:
        The path written.

    """
    if tile % 16:
        raise ValueError(f"tile must be a multiple of 16, got {tile}")
    band = max(tile, (1024 // tile) * tile)
    resolution: dict[str, Any] = {}
    if um_per_px:
        per_cm = 1e4 / um_per_px
        resolution = {"resolution": (per_cm, per_cm), "resolutionunit": "CENTIMETER"}
    with atomic_output(path, overwrite=overwrite) as partial:
        tifffile.imwrite(
            partial,
            data=_tiles(data, tile, band, progress, workers),
            shape=data.shape,
            dtype=data.dtype,
            tile=(tile, tile),
            photometric="minisblack" if data.ndim == 2 else "rgb",
            compression=None if compression == "none" else compression,
            bigtiff=True,
            metadata=None,
            description=description,
            **resolution,
        )
    return Path(path)


def _tiles(
    data: da.Array, tile: int, band: int, progress: bool, workers: int | None
) -> Iterator[np.ndarray]:
    """Yield full-size tiles in row-major order (edge tiles zero-padded)."""
    height, width = data.shape[:2]
    bands = range(0, height, band)
    for top in tqdm(bands, desc="writing tiff", unit="band", disable=not progress, leave=False):
        with local_compute("band", progress=False, workers=workers):
            rows = np.asarray(data[top : top + band].compute())
        for y in range(0, rows.shape[0], tile):
            for x in range(0, width, tile):
                piece = rows[y : y + tile, x : x + tile]
                if piece.shape[:2] != (tile, tile):
                    padded = np.zeros((tile, tile, *piece.shape[2:]), piece.dtype)
                    padded[: piece.shape[0], : piece.shape[1]] = piece
                    piece = padded
                yield piece
