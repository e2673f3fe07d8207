"""Pictures and QuPath files made from a mosaic's maps and objects.

Heatmap overlays (PNG), object outlines, crop galleries, and GeoJSON that
QuPath imports (regions as annotations, objects as detections), and a photo
set's HTML gallery. Every stage
that leaves something to look at renders it through this package.
"""

from rcm.render._colours import PALETTE, SUSPICIOUS_COLOUR, class_colour
from rcm.render._gallery import write_gallery
from rcm.render._geojson import instance_features, mask_polygons, qupath_features
from rcm.render._overlay import draw_boxes, heatmap_overlay, stretched_gray
from rcm.render._photo_gallery import GALLERY_EDGE, GalleryPhoto, photo_picture, write_photo_gallery

__all__ = [
    "GALLERY_EDGE",
    "GalleryPhoto",
    "photo_picture",
    "write_photo_gallery",
    "PALETTE",
    "SUSPICIOUS_COLOUR",
    "class_colour",
    "draw_boxes",
    "heatmap_overlay",
    "instance_features",
    "mask_polygons",
    "qupath_features",
    "stretched_gray",
    "write_gallery",
]
