"""Tile geometry as pure functions: where tiles lie on a mosaic, in mosaic pixels."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

EdgePolicy = Literal["pad", "drop", "shift"]


def axis_starts(length: int, tile: int, stride: int, edge: EdgePolicy) -> np.ndarray:
    """Start offsets of tiles along one axis.

    Args:
        length: Axis length in pixels.
        tile: Tile edge in pixels.
        stride: Step between tile starts (``stride < tile`` overlaps).
        edge: ``"pad"``: tiles on the regular grid until every pixel is covered (the
            last may run past the edge and is padded with background when read);
            ``"drop"``: only tiles fully inside; ``"shift"``: like drop, plus one
            tile ending exactly at the edge when the grid leaves pixels uncovered.

    """
    if tile <= 0 or stride <= 0:
        raise ValueError(f"tile and stride must be positive, got {tile} and {stride}")
    if length <= 0:
        return np.zeros(0, np.int64)
    if edge == "pad":
        count = 1 + max(0, math.ceil((length - tile) / stride))
        starts = np.arange(count, dtype=np.int64) * stride
        return starts[starts < length]  # a stride beyond the tile can overshoot
    if length < tile:
        return np.zeros(0 if edge == "drop" else 1, np.int64)
    starts = np.arange(0, length - tile + 1, stride, dtype=np.int64)
    if edge == "shift" and starts[-1] + tile < length:
        starts = np.append(starts, length - tile)
    return starts


@dataclass(frozen=True)
class TileGrid:
    """Tiles over a mosaic, row-major, with their windows in mosaic pixels.

    Attributes:
        height: Mosaic rows.
        width: Mosaic columns.
        tile: Tile edge in mosaic pixels.
        stride: Step between tiles; equal to `tile` for no overlap.
        edge: What happens at the right and bottom edges (see `axis_starts`).

    """

    height: int
    width: int
    tile: int
    stride: int
    edge: EdgePolicy = "pad"

    def __post_init__(self) -> None:
        if self.tile <= 0 or self.stride <= 0:
            raise ValueError(f"tile and stride must be positive, got {self.tile}, {self.stride}")
        if self.edge not in ("pad", "drop", "shift"):
            raise ValueError(f"unknown edge policy {self.edge!r}")

    @classmethod
    def with_overlap(
        cls, height: int, width: int, tile: int, overlap: float = 0.0, edge: EdgePolicy = "pad"
    ) -> TileGrid:
        """A grid whose neighbouring tiles share `overlap` (a fraction in [0, 1)) of a tile."""
        if not 0 <= overlap < 1:
            raise ValueError(f"overlap must be in [0, 1), got {overlap}")
        return cls(height, width, tile, max(1, round(tile * (1 - overlap))), edge)

    @property
    def row_starts(self) -> np.ndarray:
        return axis_starts(self.height, self.tile, self.stride, self.edge)

    @property
    def col_starts(self) -> np.ndarray:
        return axis_starts(self.width, self.tile, self.stride, self.edge)

    @property
    def shape(self) -> tuple[int, int]:
        """Tiles per column and per row: the shape of a tile-resolution heatmap."""
        return len(self.row_starts), len(self.col_starts)

    def __len__(self) -> int:
        rows, cols = self.shape
        return rows * cols

    def windows(self) -> np.ndarray:
        """``(n, 4)`` int64 windows ``[y0, x0, y1, x1]`` in mosaic pixels, row-major.

        With ``edge="pad"`` a window may end past the mosaic; readers pad it.
        """
        ys, xs = np.meshgrid(self.row_starts, self.col_starts, indexing="ij")
        ys, xs = ys.ravel(), xs.ravel()
        return np.stack([ys, xs, ys + self.tile, xs + self.tile], axis=1)

    def positions(self) -> np.ndarray:
        """``(n, 2)`` grid (row, column) of each window, in the order of `windows`."""
        rows, cols = self.shape
        r, c = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
        return np.stack([r.ravel(), c.ravel()], axis=1)


def tile_px_for(tile_um: float, um_per_px: float | None) -> int:
    """A tile edge given in microns, in mosaic pixels.

    Raises:
        ValueError: If the mosaic's pixel size is unknown.

    """
    if um_per_px is None:
        raise ValueError("tile size in microns needs the mosaic's pixel size (--um-per-px)")
    return max(1, round(tile_um / um_per_px))
