"""Options of `rcm infer`: what every task shares, and the tile classifier's own.

Each field is described once (`rcm._fields.Option`): the checks here, the CLI
flags and job files all use that description.
"""

from __future__ import annotations

from dataclasses import dataclass

from rcm._fields import POSITIVE, UNIT, Option, Range, check_fields, described
from rcm.stitch import Blend
from rcm.tiling import EdgePolicy

THRESHOLD = Option("probability counted as suspicious", UNIT)
COVERAGE = Option("share of tissue that must be suspicious", Range(0, 1, low_open=True))
OVERLAP = Option("fraction of a tile or window shared by neighbours", Range(0, 1, high_open=True))
MIN_TISSUE = Option(
    "least tissue fraction of a tile or window that is run", Range(0, 1, low_open=True)
)
BLEND = Option("weight of overlapping tiles or windows in the map")
BATCH_SIZE = Option("tiles, windows or photos per forward pass", POSITIVE)
DEVICE = Option("auto, cpu or cuda[:N]")
MAP_MAX_EDGE = Option("longest edge of the stitched maps", Range(16), cli=False)
READ_WORKERS = Option("reader threads (default 1 on CPU, 4 on a GPU)", POSITIVE, cli=False)


@dataclass(frozen=True)
class RunOptions:
    """What every model task's run shares: the coverage rule, tiling, batching, device.

    Attributes:
        threshold: Map probability at or above which tissue is suspicious.
        coverage: Share of tissue that must be suspicious for a suspicious mosaic.
        overlap: Fraction of a tile or window shared with its neighbours (0 = none).
        min_tissue: Tiles or windows with less tissue than this fraction are not run.
        blend: How overlapping tiles or windows combine in the map.
        batch_size: Tiles or windows per forward pass (halved on GPU out-of-memory).
        device: ``auto``, ``cpu`` or ``cuda[:n]``.
        map_max_edge: The stitched maps' longer edge is at most this (a power-of-two
            fraction of the mosaic), so their memory does not grow with the mosaic.
        read_workers: Threads reading and decoding ahead of the model; None uses 1
            on CPU (the model already uses every core) and 4 on a GPU.

    """

    threshold: float = described(0.5, THRESHOLD)
    coverage: float = described(0.01, COVERAGE)
    overlap: float = described(0.0, OVERLAP)
    min_tissue: float = described(0.25, MIN_TISSUE)
    blend: Blend = described("constant", BLEND)
    batch_size: int = described(32, BATCH_SIZE)
    device: str = described("auto", DEVICE)
    map_max_edge: int = described(2048, MAP_MAX_EDGE)
    read_workers: int | None = described(None, READ_WORKERS)

    def __post_init__(self) -> None:
        check_fields(self)


@dataclass(frozen=True)
class ClassifyOptions(RunOptions):
    """How a mosaic is tiled, classified and scored by a tile classifier.

    Attributes:
        edge: Tiles at the right/bottom edges (see `rcm.tiling.axis_starts`).

    """

    edge: EdgePolicy = described("pad", Option("tiles at the right and bottom edges"))
