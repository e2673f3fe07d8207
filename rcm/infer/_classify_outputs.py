"""The files a tile classifier's run leaves per mosaic: tables, maps, overlay, QuPath regions."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import dask.array as da
import numpy as np
import zarr

from rcm.io import Mosaic, Thumbnail, ZarrWriteOptions, write_ome_zarr
from rcm.outputs import SUMMARY, TILES, MapLayout, MosaicSummary, TileTable
from rcm.render import SUSPICIOUS_COLOUR, heatmap_overlay, mask_polygons, qupath_features
from rcm.tiling import TileGrid


@dataclass(frozen=True)
class ClassifierMaps:
    """A classifier's maps at map scale.

    Attributes:
        layout: The map's scale and shape.
        heat: Blended suspicious probability, NaN where no tile was classified.
        tissue: Tissue mask resized to the map.
        mask: Suspicious tissue (heat at or above the threshold, on tissue).

    """

    layout: MapLayout
    heat: np.ndarray
    tissue: np.ndarray
    mask: np.ndarray


def write_classifier_outputs(
    folder: Path,
    mosaic: Mosaic,
    grid: TileGrid,
    table: TileTable,
    maps: ClassifierMaps,
    summary: MosaicSummary,
    overview: Thumbnail,
) -> None:
    """Write every output of a classifier run into the (still partial) `folder`."""
    info, scale = mosaic.info, maps.layout.scale
    table.write(folder / TILES)
    _write_heatmap(
        folder / "heatmap.zarr", maps.heat, table.suspicious, grid, info.um_per_px, scale
    )
    threshold = summary.verdict.threshold
    write_ome_zarr(
        da.from_array(maps.mask.astype(np.uint8), chunks=1024),
        folder / "mask.zarr",
        um_per_px=info.um_per_px and info.um_per_px * scale,
        name="suspicious",
        attributes={"scale_to_mosaic": scale, "threshold": threshold},
        options=ZarrWriteOptions(labels=True, max_top_edge=1024),
    )
    heatmap_overlay(overview.pixels, info.dtype, maps.heat, folder / "overlay.png")
    geojson = qupath_features(mask_polygons(maps.mask, scale), "Suspicious", SUSPICIOUS_COLOUR)
    (folder / "suspicious.geojson").write_text(json.dumps(geojson))
    summary.write(folder / SUMMARY)


def _write_heatmap(
    path: Path,
    heat: np.ndarray,
    suspicious: np.ndarray,
    grid: TileGrid,
    um_per_px: float | None,
    scale: int,
) -> None:
    """The blended map as an OME-Zarr image plus the tile-grid values as array ``tiles``."""
    write_ome_zarr(
        da.from_array(heat, chunks=1024),
        path,
        um_per_px=um_per_px and um_per_px * scale,
        name="p_suspicious",
        attributes={"scale_to_mosaic": scale},
        options=ZarrWriteOptions(max_top_edge=1024),
    )
    group = zarr.open_group(path, mode="a")
    tiles = group.create_array(
        "tiles", shape=grid.shape, dtype="float32", chunks=grid.shape, fill_value=float("nan")
    )
    tiles[:] = suspicious.reshape(grid.shape)
    tiles.attrs.update(
        {
            "tile_px": grid.tile,
            "stride_px": grid.stride,
            "origin_px": [0, 0],
            "description": "p_suspicious per tile, NaN where not classified",
        }
    )
