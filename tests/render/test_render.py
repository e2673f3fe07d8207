from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from rcm.render import heatmap_overlay, mask_polygons, qupath_features


def test_polygons_keep_area_and_holes() -> None:
    mask = np.zeros((40, 50), bool)
    mask[5:25, 5:30] = True
    mask[10:15, 10:15] = False  # a hole
    mask[30:35, 40:48] = True  # a second region
    polygons = mask_polygons(mask, scale=4)
    assert len(polygons) == 2
    assert sum(p.area for p in polygons) == mask.sum() * 16
    assert len(polygons[0].interiors) == 1
    assert polygons[0].bounds == (20.0, 20.0, 120.0, 100.0)


def test_qupath_geojson(tmp_path: Path) -> None:
    mask = np.zeros((10, 10), bool)
    mask[2:5, 2:5] = True
    document = qupath_features(mask_polygons(mask, 1), "Suspicious", (255, 0, 0))
    path = tmp_path / "a.geojson"
    path.write_text(json.dumps(document))
    feature = json.loads(path.read_text())["features"][0]
    assert feature["geometry"]["type"] == "Polygon"
    assert feature["properties"]["objectType"] == "annotation"
    assert feature["properties"]["classification"]["name"] == "Suspicious"
    assert mask_polygons(np.zeros((3, 3), bool), 1) == []


def test_overlay(tmp_path: Path) -> None:
    thumb = np.linspace(0, 255, 60 * 80, dtype=np.float32).reshape(60, 80)
    heat = np.full((30, 40), np.nan, np.float32)
    heat[:15] = 1.0
    heatmap_overlay(thumb, "uint8", heat, tmp_path / "o.png")
    image = np.asarray(Image.open(tmp_path / "o.png"))
    assert image.shape == (60, 80, 3)
    assert np.all(image[40:, :, 0] == image[40:, :, 1])  # gray where no heat
    assert np.any(image[:30, :, 0] != image[:30, :, 2])  # coloured where heat


def test_gallery_shows_a_tile_and_a_map_of_other_sizes(tmp_path: Path) -> None:
    from rcm.render import write_gallery
    from rcm.render._gallery import COLUMNS, EDGE

    rng = np.random.default_rng(0)
    tile = rng.integers(0, 255, (128, 128, 3), dtype=np.uint8)  # RGB tile of 128 mosaic px
    tile_map = np.zeros((64, 64), np.float32)  # the model's 64 px input
    tile_map[:, 32:] = 1.0
    write_gallery(tmp_path / "g.png", [(0.9, tile, tile_map), (0.5, tile[:32, :32], tile_map)])
    with Image.open(tmp_path / "g.png") as image:
        pixels = np.asarray(image.convert("RGB"))
    assert pixels.shape == (EDGE + 16, COLUMNS * 2 * EDGE, 3)
    over = pixels[:EDGE, EDGE : 2 * EDGE].astype(int)
    # The map's right half (1.0) is brighter in the overlay than its left half (0.0).
    assert over[:, EDGE * 3 // 4].mean() > over[:, EDGE // 4].mean() + 50
