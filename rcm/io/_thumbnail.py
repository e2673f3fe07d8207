"""Small overviews of a mosaic: from a pyramid level when one fits, else streamed block means."""

from __future__ import annotations

import math
from dataclasses import dataclass

import dask.array as da
import numpy as np

from rcm._dask import local_compute
from rcm.io._mosaic import Mosaic


@dataclass(frozen=True)
class Thumbnail:
    """A float32 overview and how many mosaic pixels one of its pixels spans (y, x)."""

    pixels: np.ndarray
    scale: tuple[float, float]


def block_mean(block: np.ndarray, factor: int) -> np.ndarray:
    """Mean of `factor` x `factor` pixel groups (float32); partial edge groups use what exists."""
    height, width = block.shape[:2]
    rows, cols = math.ceil(height / factor), math.ceil(width / factor)
    pad = [(0, rows * factor - height), (0, cols * factor - width)] + [(0, 0)] * (block.ndim - 2)
    padded = np.pad(block.astype(np.float32), pad, mode="edge")
    return padded.reshape(rows, factor, cols, factor, *block.shape[2:]).mean(axis=(1, 3))


def thumbnail(mosaic: Mosaic, max_edge: int, *, workers: int | None = None) -> Thumbnail:
    """An overview whose longer edge is at most `max_edge` pixels.

    Uses the finest pyramid level that fits; otherwise averages blocks of the
    coarsest level, streamed chunk by chunk (memory bounded by chunk size).
    """
    height, width = mosaic.info.shape[:2]
    fitting = [level for level in mosaic.levels if max(level.shape[:2]) <= max_edge]
    if fitting:
        source, factor = fitting[0], 1
    else:
        source = mosaic.levels[-1]
        # A power of two divides the readers' 4096 px regions: no rechunking, whose
        # intermediate pieces would hold more of the mosaic in memory.
        factor = 1 << math.ceil(math.log2(max(source.shape[:2]) / max_edge))
    if factor > 1:
        if any(n % factor for axis in source.chunks[:2] for n in axis[:-1]):
            edge = factor * max(1, 4096 // factor)
            source = source.rechunk((edge, edge, *source.shape[2:]), method="tasks")
        chunks = tuple(tuple(math.ceil(n / factor) for n in axis) for axis in source.chunks[:2])
        source = da.map_blocks(
            block_mean, source, factor, dtype=np.float32, chunks=(*chunks, *source.chunks[2:])
        )
    with local_compute("thumbnail", progress=False, workers=workers):
        pixels = np.asarray(source.compute(), dtype=np.float32)
    return Thumbnail(pixels, (height / pixels.shape[0], width / pixels.shape[1]))
