"""Outputs people open: overlay images and QuPath GeoJSON."""

from rcm.report._geojson import mask_polygons, qupath_features
from rcm.report._overlay import heatmap_overlay

__all__ = ["heatmap_overlay", "mask_polygons", "qupath_features"]
