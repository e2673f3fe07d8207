"""`classify_mosaic`: one mosaic through a tile classifier to maps, regions and a score."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rcm.infer._accumulate import progress_bar
from rcm.infer._classify_outputs import ClassifierMaps, write_classifier_outputs
from rcm.infer._options import ClassifyOptions
from rcm.infer._reader import TileReader
from rcm.infer._result import MosaicResult
from rcm.infer._runner import Predictor, pick_device
from rcm.infer._shared import map_layout, mosaic_summary, read_workers, tile_edge, verdict
from rcm.io import Mosaic, Thumbnail, atomic_output, thumbnail
from rcm.models import LoadedModel
from rcm.outputs import MosaicSummary, TilesBlock, TileTable
from rcm.stitch import paint_tiles, resize_nearest
from rcm.tiling import TileGrid, TissueMask, TissueOptions, tissue_from_overview


@dataclass(frozen=True)
class _TissueTiles:
    """The tissue of a mosaic and the grid tiles with enough of it."""

    overview: Thumbnail
    tissue: TissueMask
    fractions: np.ndarray
    selected: np.ndarray


def classify_mosaic(
    mosaic: Mosaic,
    model: LoadedModel,
    output: str | os.PathLike[str],
    *,
    options: ClassifyOptions | None = None,
    model_name: str | None = None,
    overwrite: bool = False,
    progress: bool = False,
) -> MosaicResult:
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
    tiles = _tissue_tiles(mosaic, grid, options)
    timings["tissue_s"] = time.perf_counter() - started

    started = time.perf_counter()
    probabilities = _predict(mosaic, model, grid, tiles.selected, options, progress)
    timings["classify_s"] = time.perf_counter() - started

    started = time.perf_counter()
    table = TileTable(
        windows=grid.windows(),
        positions=grid.positions(),
        tissue=tiles.fractions,
        classes=model.meta.classes,
        probabilities=probabilities,
        suspicious=probabilities[:, list(model.meta.positive_indices)].sum(axis=1),
    )
    maps = _maps(mosaic, table, tiles, options)
    summary = _summary(mosaic, model, model_name, options, notes, grid, table, tiles, maps)
    with atomic_output(output, overwrite=overwrite) as folder:
        folder.mkdir()
        write_classifier_outputs(folder, mosaic, grid, table, maps, summary, tiles.overview)
    timings["outputs_s"] = time.perf_counter() - started
    return MosaicResult.of(Path(output), summary, timings)


def _tissue_tiles(mosaic: Mosaic, grid: TileGrid, options: ClassifyOptions) -> _TissueTiles:
    overview = thumbnail(mosaic, TissueOptions().max_edge)
    tissue = tissue_from_overview(
        overview.pixels,
        overview.scale,
        mosaic.info.dtype,
        TissueOptions(min_fraction=options.min_tissue),
    )
    fractions = tissue.window_fractions(grid.windows())
    return _TissueTiles(
        overview, tissue, fractions, np.flatnonzero(fractions >= options.min_tissue)
    )


def _maps(
    mosaic: Mosaic, table: TileTable, tiles: _TissueTiles, options: ClassifyOptions
) -> ClassifierMaps:
    """The blended probability map and the suspicious tissue it gives."""
    info = mosaic.info
    layout = map_layout(info.height, info.width, options.map_max_edge)
    selected = tiles.selected
    heat = paint_tiles(
        table.windows[selected],
        table.suspicious[selected],
        layout.shape,
        layout.scale,
        options.blend,
    )
    tissue_map = resize_nearest(tiles.tissue.mask, layout.shape)
    mask = (np.nan_to_num(heat, nan=0.0) >= options.threshold) & tissue_map
    return ClassifierMaps(layout, heat, tissue_map, mask)


def _summary(
    mosaic: Mosaic,
    model: LoadedModel,
    model_name: str | None,
    options: ClassifyOptions,
    notes: list[str],
    grid: TileGrid,
    table: TileTable,
    tiles: _TissueTiles,
    maps: ClassifierMaps,
) -> MosaicSummary:
    selected = tiles.selected
    suspicious = int(np.count_nonzero(table.suspicious[selected] >= options.threshold))
    block = TilesBlock(
        grid=grid.shape,
        tile_px=grid.tile,
        stride_px=grid.stride,
        total=len(table),
        classified=len(selected),
        suspicious=suspicious,
    )
    outcome = verdict(maps.heat[maps.tissue], options, classified=len(selected) > 0)
    return mosaic_summary(
        mosaic,
        model,
        model_name,
        options,
        notes,
        verdict=outcome,
        tissue_fraction=tiles.tissue.fraction,
        map=maps.layout,
        tiles=block,
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
        workers=read_workers(options.read_workers, device),
    )
    predictor = Predictor(model, device, grid.tile)
    with progress_bar(len(selected), "tile", "classifying", progress) as bar:
        for indices, batch_probabilities in predictor(reader):
            probabilities[indices] = batch_probabilities
            bar.update(len(indices))
    return probabilities
