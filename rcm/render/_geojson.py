"""GeoJSON that QuPath imports: regions of a binary map as annotations, objects as detections."""

from __future__ import annotations

from typing import Any

import numpy as np
import shapely
from shapely import affinity, geometry

from rcm.render._colours import class_colour
from rcm.stitch import Instances


def mask_polygons(mask: np.ndarray, scale: float) -> list[geometry.Polygon]:
    """Polygons of the True regions of `mask`, in mosaic pixels (`scale` px per mask px).

    Each row's runs of True become boxes; their union gives exact outlines
    (holes included) without any tracing heuristics.
    """
    padded = np.pad(mask.astype(np.int8), ((0, 0), (1, 1)))
    rows, cols = np.nonzero(np.diff(padded, axis=1))  # starts and stops alternate per row
    if not len(rows):
        return []
    starts, stops, run_rows = cols[0::2], cols[1::2], rows[0::2]
    boxes = shapely.box(starts, run_rows, stops, run_rows + 1)
    union = shapely.union_all(boxes)
    polygons = list(union.geoms) if hasattr(union, "geoms") else [union]
    # Tolerance 0 only drops collinear vertices, so the faster non-topological variant is exact.
    scaled = [
        shapely.simplify(affinity.scale(p, scale, scale, origin=(0, 0)), 0, preserve_topology=False)
        for p in polygons
    ]
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


def instance_features(instances: Instances, classes: tuple[str, ...]) -> dict[str, Any]:
    """Objects (mosaic pixels) as QuPath detections with class, score and area.

    Each object's outline is its mask's (several polygons for a split mask), or its box.
    """
    features = []
    for index in range(len(instances)):
        label = int(instances.labels[index])
        features.append(
            {
                "type": "Feature",
                "id": f"object-{index}",
                "geometry": geometry.mapping(_outline(instances, index)),
                "properties": {
                    "objectType": "detection",
                    "classification": {"name": classes[label], "color": list(class_colour(label))},
                    "measurements": {
                        "score": float(instances.scores[index]),
                        "area_px": float(instances.areas[index]),
                    },
                },
            }
        )
    return {"type": "FeatureCollection", "features": features}


def _outline(instances: Instances, index: int) -> geometry.base.BaseGeometry:
    if instances.masks is None:
        return geometry.box(*instances.boxes[index])
    top, left = instances.mask_origins[index]
    polygons = mask_polygons(instances.masks[index], 1.0)
    shape = affinity.translate(geometry.MultiPolygon(polygons), left, top)
    return shape.geoms[0] if len(polygons) == 1 else shape
