"""`classify_mosaic`: one mosaic through a tile classifier to maps, regions and a score."""

from __future__ import annotations

import csv
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np
import zarr
from tqdm import tqdm

from rcm.infer._options import ClassifyOptions, Decision
from rcm.infer._reader import TileReader
from rcm.infer._runner import Predictor, pick_device
from rcm.infer._shared import map_scale, provenance, tile_edge, verdict
from rcm.io import Mosaic, ZarrWriteOptions, write_ome_zarr
from rcm.io._atomic import atomic_output
from rcm.io._thumbnail import thumbnail
from rcm.models import LoadedModel
from rcm.report import heatmap_overlay, mask_polygons, qupath_features
from rcm.stitch import paint_tiles, resize_nearest
from rcm.tiling import TileGrid, TissueOptions, tissue_from_overview

SUSPICIOUS_COLOUR = (220, 40, 40)


@dataclass(frozen=True)
class ClassifyResult:
    """What `classify_mosaic` decided and where it wrote it."""

    output: Path
    status: str
    decision: Decision
    score: float
    coverage_at_threshold: float
    tiles_total: int
    tiles_classified: int
    tiles_suspicious: int
    timings: dict[str, float] = field(default_factory=dict)


def classify_mosaic(
    mosaic: Mosaic,
    model: LoadedModel,
    output: str | os.PathLike[str],
    *,
    options: ClassifyOptions | None = None,
    model_name: str | None = None,
    overwrite: bool = False,
    progress: bool = False,
) -> ClassifyResult:
    """Classify every tissue tile of a mosaic and write the per-mosaic outputs.

    Outputs (one folder, written atomically): ``summary.json``, ``tiles.csv``,
    ``heatmap.zarr`` (probability map aligned with the mosaic, plus the
    tile-grid values), ``mask.zarr`` (suspicious tissue), ``overlay.png`` and
    ``suspicious.geojson`` (QuPath).

    Args:
        mosaic: An opened mosaic.
        model: A loaded classifier (`rcm.models.load_model`).
        output: Folder to create.
        options: Tiling, scoring and runtime options.
        model_name: Store name of the model, recorded for provenance.
        overwrite: Replace an existing output folder once the new one is complete.
        progress: Show a progress bar with tiles per second.

    """
    options = options or ClassifyOptions()
    timings: dict[str, float] = {}
    started = time.perf_counter()
    tile_px, notes = tile_edge(model, mosaic)
    info = mosaic.info
    grid = TileGrid.with_overlap(info.height, info.width, tile_px, options.overlap, options.edge)
    windows = grid.windows()
    overview = thumbnail(mosaic, TissueOptions().max_edge)
    tissue = tissue_from_overview(
        overview.pixels, overview.scale, info.dtype, TissueOptions(min_fraction=options.min_tissue)
    )
    fractions = tissue.window_fractions(windows)
    selected = np.flatnonzero(fractions >= options.min_tissue)
    timings["tissue_s"] = time.perf_counter() - started

    started = time.perf_counter()
    probabilities = _predict(mosaic, model, grid, selected, options, progress)
    timings["classify_s"] = time.perf_counter() - started

    started = time.perf_counter()
    suspicious = probabilities[:, list(model.meta.positive_indices)].sum(axis=1)
    scale = map_scale(info.height, info.width, options.map_max_edge)
    map_shape = (math.ceil(info.height / scale), math.ceil(info.width / scale))
    heat = paint_tiles(windows[selected], suspicious[selected], map_shape, scale, options.blend)
    tissue_map = resize_nearest(tissue.mask, map_shape)
    mask = (np.nan_to_num(heat, nan=0.0) >= options.threshold) & tissue_map
    outcome = verdict(heat[tissue_map], options, classified=len(selected) > 0)
    tiles_suspicious = int(np.count_nonzero(suspicious[selected] >= options.threshold))
    summary = {
        **outcome,
        "tissue_fraction": tissue.fraction,
        "tiles": {
            "grid": list(grid.shape),
            "tile_px": tile_px,
            "stride_px": grid.stride,
            "total": len(windows),
            "classified": len(selected),
            "suspicious": tiles_suspicious,
        },
        "map": {"scale": scale, "shape": list(map_shape)},
        **provenance(mosaic, model, model_name, options, notes),
    }
    with atomic_output(output, overwrite=overwrite) as folder:
        folder.mkdir()
        _write_tiles_csv(
            folder / "tiles.csv", grid, fractions, probabilities, model.meta.classes, suspicious
        )
        _write_heatmap(folder / "heatmap.zarr", heat, suspicious, grid, info.um_per_px, scale)
        write_ome_zarr(
            da.from_array(mask.astype(np.uint8), chunks=1024),
            folder / "mask.zarr",
            um_per_px=info.um_per_px and info.um_per_px * scale,
            name="suspicious",
            attributes={"scale_to_mosaic": scale, "threshold": options.threshold},
            options=ZarrWriteOptions(labels=True, max_top_edge=1024),
        )
        heatmap_overlay(overview.pixels, info.dtype, heat, folder / "overlay.png")
        geojson = qupath_features(mask_polygons(mask, scale), "Suspicious", SUSPICIOUS_COLOUR)
        (folder / "suspicious.geojson").write_text(json.dumps(geojson))
        (folder / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True))
    timings["outputs_s"] = time.perf_counter() - started
    return ClassifyResult(
        Path(output),
        outcome["status"],
        outcome["decision"],
        outcome["score"],
        outcome["coverage_at_threshold"],
        len(windows),
        len(selected),
        tiles_suspicious,
        timings,
    )


def _predict(
    mosaic: Mosaic,
    model: LoadedModel,
    grid: TileGrid,
    selected: np.ndarray,
    options: ClassifyOptions,
    progress: bool,
) -> np.ndarray:
    """Class probabilities per grid tile (NaN rows for tiles not classified)."""
    windows = grid.windows()
    probabilities = np.full((len(windows), len(model.meta.classes)), np.nan, np.float32)
    if not len(selected):
        return probabilities
    device = pick_device(options.device)
    reader = TileReader(
        mosaic,
        windows,
        grid.positions(),
        selected,
        batch_size=options.batch_size,
        workers=options.read_workers or (4 if device.type == "cuda" else 1),
    )
    predictor = Predictor(model, device, grid.tile)
    with tqdm(
        total=len(selected), unit="tile", desc="classifying", disable=not progress, leave=False
    ) as bar:
        for indices, batch_probabilities in predictor(reader):
            probabilities[indices] = batch_probabilities
            bar.update(len(indices))
    return probabilities


def _write_tiles_csv(
    path: Path,
    grid: TileGrid,
    fractions: np.ndarray,
    probabilities: np.ndarray,
    classes: tuple[str, ...],
    suspicious: np.ndarray,
) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            [
                "tile",
                "row",
                "col",
                "y0",
                "x0",
                "y1",
                "x1",
                "tissue",
                *[f"p_{name}" for name in classes],
                "p_suspicious",
            ]
        )
        rows = zip(grid.windows(), grid.positions(), strict=True)
        for index, (window, position) in enumerate(rows):
            scores: list[Any] = (
                [""] * (len(classes) + 1)
                if np.isnan(suspicious[index])
                else [f"{p:.7g}" for p in probabilities[index]] + [f"{suspicious[index]:.7g}"]
            )
            writer.writerow(
                [index, *position.tolist(), *window.tolist(), f"{fractions[index]:.4f}", *scores]
            )


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
