"""Where tiles go: tile grids (pure geometry) and bright-on-dark tissue masks."""

from rcm.tiling._grid import EdgePolicy, TileGrid, axis_starts, tile_px_for
from rcm.tiling._tissue import (
    TissueMask,
    TissueOptions,
    detect_tissue,
    tissue_from_overview,
    window_fractions,
)

__all__ = [
    "EdgePolicy",
    "TileGrid",
    "TissueMask",
    "TissueOptions",
    "axis_starts",
    "detect_tissue",
    "tile_px_for",
    "tissue_from_overview",
    "window_fractions",
]
