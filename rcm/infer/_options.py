"""Options of `rcm infer` for tile classifiers, one typed object."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from rcm.stitch._tiles import Blend
from rcm.tiling._grid import EdgePolicy


@dataclass(frozen=True)
class ClassifyOptions:
    """How a mosaic is tiled, classified and scored.

    Attributes:
        threshold: Tile probability at or above which tissue is suspicious.
        coverage: Share of tissue that must be suspicious for a suspicious mosaic.
        overlap: Fraction of a tile shared with its neighbours (0 = none).
        edge: Tiles at the right/bottom edges (see `rcm.tiling.axis_starts`).
        min_tissue: Tiles with less tissue than this fraction are not classified.
        blend: How overlapping tiles combine in the map.
        batch_size: Tiles per forward pass (halved on GPU out-of-memory).
        device: ``auto``, ``cpu`` or ``cuda[:n]``.
        map_max_edge: The probability map's longer edge is at most this (a power-of-two
            fraction of the mosaic), so its memory does not grow with the mosaic.
        read_workers: Threads reading and decoding tiles ahead of the model; None
            uses 1 on CPU (the model already uses every core) and 4 on a GPU.

    """

    threshold: float = 0.5
    coverage: float = 0.01
    overlap: float = 0.0
    edge: EdgePolicy = "pad"
    min_tissue: float = 0.25
    blend: Blend = "constant"
    batch_size: int = 32
    device: str = "auto"
    map_max_edge: int = 2048
    read_workers: int | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.threshold <= 1:
            raise ValueError(f"threshold must be in [0, 1], got {self.threshold}")
        if not 0 < self.coverage <= 1:
            raise ValueError(f"coverage must be in (0, 1], got {self.coverage}")
        if not 0 <= self.overlap < 1:
            raise ValueError(f"overlap must be in [0, 1), got {self.overlap}")
        if not 0 < self.min_tissue <= 1:
            raise ValueError(f"min_tissue must be in (0, 1], got {self.min_tissue}")
        if self.blend not in get_args(Blend) or self.edge not in get_args(EdgePolicy):
            raise ValueError(
                f"blend must be one of {', '.join(get_args(Blend))} and edge one of "
                f"{', '.join(get_args(EdgePolicy))}, got {self.blend!r} and {self.edge!r}"
            )
        if self.batch_size < 1 or (self.read_workers or 1) < 1 or self.map_max_edge < 16:
            raise ValueError("batch_size, read_workers and map_max_edge must be positive")


Decision = Literal["suspicious", "not suspicious", "no tissue"]
