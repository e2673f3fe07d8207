"""Stitching per-window results back into mosaic-level maps and objects."""

from rcm.stitch._blend import BlendedMap, average_pool
from rcm.stitch._instances import Frame, Instances
from rcm.stitch._merge import MergeMethod, merge_instances
from rcm.stitch._resample import resize_nearest
from rcm.stitch._rle import crop_to_rle
from rcm.stitch._seams import OverlapMetric
from rcm.stitch._tiles import Blend, paint_tiles, tile_weight

__all__ = [
    "Blend",
    "BlendedMap",
    "Frame",
    "Instances",
    "MergeMethod",
    "OverlapMetric",
    "average_pool",
    "crop_to_rle",
    "merge_instances",
    "paint_tiles",
    "resize_nearest",
    "tile_weight",
]
