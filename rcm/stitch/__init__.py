"""Stitching per-tile results back into mosaic-level maps."""

from rcm.stitch._resample import resize_nearest
from rcm.stitch._tiles import Blend, paint_tiles, tile_weight

__all__ = ["Blend", "paint_tiles", "resize_nearest", "tile_weight"]
