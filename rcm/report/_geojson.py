"""Regions of a binary map as GeoJSON polygons that QuPath imports as annotations."""

from __future__ import annotations

from typing import Any

import numpy as np
from shapely import affinity, geometry, ops


def mask_polygons(mask: np.ndarray, scale: float) -> list[geometry.Polygon]:
    """Polygons of the True regions of `mask`, in mosaic pixels (`scale` px per mask px).

    Each row's runs of True become boxes; their union gives exact outlines
    (holes included) without any tracing heuristics.
    """
    boxes = []
    for row in np.flatnonzero(mask.any(axis=1)):
        padded = np.concatenate([[False], mask[row], [False]])
        edges = np.flatnonzero(padded[1:] != padded[:-1])
        boxes += [geometry.box(start, row, stop, row + 1) for start, stop in edges.reshape(-1, 2)]
    if not boxes:
        return []
    union = ops.unary_union(boxes)
    polygons = list(union.geoms) if hasattr(union, "geoms") else [union]
    scaled = [affinity.scale(p, scale, scale, origin=(0, 0)).simplify(0) for p in polygons]
    return sorted(scaled, key=lambda p: (p.bounds[1], p.bounds[0]))


def qupath_features(
    polygons: list[geometry.Polygon], name: str, colour: tuple[int, int, int]
) -> dict[str, Any]:
    """A GeoJSON FeatureCollection of annotations classified as `name`."""
    features = [
        {
            "type": "Feature",
            "id": f"{name.lower()}-{index}",
            "geometry": geometry.mapping(polygon),
            "properties": {
                "objectType": "annotation",
                "classification": {"name": name, "color": list(colour)},
                "measurements": {"area_px": float(polygon.area)},
            },
        }
        for index, polygon in enumerate(polygons)
    ]
    return {"type": "FeatureCollection", "features": features}
