"""`detect_mosaic`: one mosaic through a detector or segmenter in sliding windows.

Windows over tissue are read ahead in blocks, run in batches, and their dense
outputs blended chunk by chunk into a zarr map (memory bounded by the windows in
flight, not by the mosaic). Detections are moved to mosaic pixels as they come
and merged across window seams once all windows are done (only detections of
different windows are merged, where their windows overlap).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rcm.errors import InputError
from rcm.infer._accumulate import MapAccumulator, progress_bar
from rcm.infer._reader import TileReader
from rcm.infer._result import MosaicResult
from rcm.infer._runner import pick_device
from rcm.infer._shared import map_layout, read_workers, tile_edge
from rcm.infer._window_options import WindowOptions
from rcm.infer._window_outputs import WindowRun, write_window_outputs
from rcm.infer._window_runner import WindowPredictor
from rcm.io import Mosaic, Thumbnail, atomic_output, thumbnail
from rcm.models import LoadedModel, Task
from rcm.outputs import WINDOWS, MapLayout, MosaicSummary, WindowTable
from rcm.stitch import Instances, merge_instances
from rcm.tiling import TileGrid, TissueOptions, tissue_from_overview, window_fractions


@dataclass(frozen=True)
class _Windows:
    """The window grid of a mosaic, its tissue, and the windows to run."""

    layout: MapLayout
    grid: TileGrid
    overview: Thumbnail
    tissue_mask: np.ndarray
    fractions: np.ndarray
    selected: np.ndarray


def detect_mosaic(
    mosaic: Mosaic,
    model: LoadedModel,
    output: str | os.PathLike[str],
    *,
    options: WindowOptions | None = None,
    model_name: str | None = None,
    overwrite: bool = False,
    progress: bool = False,
) -> MosaicResult:
    """Run a detector or segmenter over the tissue of a mosaic and write its outputs.

    Outputs (one folder, written atomically): ``summary.json`` (mosaic score by
    the coverage rule on the stitched map, provenance), ``instances.json`` (COCO
    results in mosaic pixels, RLE masks), ``instances.geojson`` (QuPath),
    ``heatmap.zarr`` (suspicious probability), ``probabilities.zarr`` (segmenters:
    every class), ``labels.zarr`` (class of each pixel), ``mask.zarr``
    (suspicious tissue), ``overlay.png`` and ``windows.csv`` (every window, its
    tissue fraction and whether it ran).

    Raises:
        InputError: If a window larger than the mosaic was asked for.

    """
    options = options or WindowOptions()
    timings: dict[str, float] = {}
    started = time.perf_counter()
    windows, notes = _window_grid(mosaic, model, options)
    timings["tissue_s"] = time.perf_counter() - started
    with atomic_output(output, overwrite=overwrite) as folder:
        folder.mkdir()
        started = time.perf_counter()
        accumulator, found = _run_windows(folder, mosaic, model, windows, options, progress)
        timings["windows_s"] = time.perf_counter() - started

        started = time.perf_counter()
        instances = None if found is None else _merge(found, mosaic, options, notes)
        timings["merge_s"] = time.perf_counter() - started

        started = time.perf_counter()
        run = WindowRun(
            mosaic=mosaic,
            model=model,
            model_name=model_name,
            options=options,
            grid=windows.grid,
            selected=windows.selected,
            layout=windows.layout,
            overview=windows.overview,
            tissue_mask=windows.tissue_mask,
            notes=notes,
        )
        summary = _write_outputs(folder, run, windows, accumulator, instances)
        timings["outputs_s"] = time.perf_counter() - started
    return MosaicResult.of(Path(output), summary, timings)


def _write_outputs(
    folder: Path,
    run: WindowRun,
    windows: _Windows,
    accumulator: MapAccumulator,
    instances: Instances | None,
) -> MosaicSummary:
    """Every output file, ``windows.csv`` last; the accumulator is removed once read."""
    summary = write_window_outputs(folder, run, accumulator.array, instances)
    ran = np.zeros(len(windows.fractions), bool)
    ran[windows.selected] = True
    grid = windows.grid
    table = WindowTable(grid.windows(), grid.positions(), windows.fractions, ran)
    table.write(folder / WINDOWS)
    accumulator.remove()
    return summary


def _window_grid(
    mosaic: Mosaic, model: LoadedModel, options: WindowOptions
) -> tuple[_Windows, list[str]]:
    """The map layout, the window grid over the mosaic, and the windows with tissue."""
    info = mosaic.info
    layout = map_layout(info.height, info.width, options.map_max_edge)
    scale = layout.scale
    window_px, notes = _window_edge(model, mosaic, options, scale)
    stride = max(scale, round(window_px * (1 - options.overlap)) // scale * scale)
    grid = TileGrid(info.height, info.width, window_px, stride, "pad")
    windows = grid.windows()
    overview = thumbnail(mosaic, TissueOptions().max_edge)
    if options.tissue == "all" or (options.tissue == "auto" and info.channels > 1):
        tissue_mask = np.ones(overview.pixels.shape[:2], bool)
        fractions = np.ones(len(windows))
        notes.append("every window run (no tissue detection)")
    else:
        tissue = tissue_from_overview(overview.pixels, overview.scale, info.dtype, TissueOptions())
        tissue_mask = tissue.mask
        # Share of the part of each window inside the image: an image smaller than a
        # window, or a window mostly past the edge, is judged by what it covers.
        inside = np.minimum(windows, [info.height, info.width, info.height, info.width])
        fractions = window_fractions(tissue_mask, overview.scale, inside)
    selected = np.flatnonzero(fractions >= options.min_tissue)
    return _Windows(layout, grid, overview, tissue_mask, fractions, selected), notes


def _run_windows(
    folder: Path,
    mosaic: Mosaic,
    model: LoadedModel,
    windows: _Windows,
    options: WindowOptions,
    progress: bool,
) -> tuple[MapAccumulator, list[Instances] | None]:
    """Every selected window through the model: dense outputs blended, objects in mosaic px.

    Returns:
        The blended map, and a detector's objects of every window (None for a
        segmenter, whose objects come from the map).

    """
    predictor = WindowPredictor(
        model,
        pick_device(options.device),
        windows.grid.tile,
        windows.layout.scale,
        min_score=options.min_score,
        max_detections=options.max_detections,
        mask_threshold=options.mask_threshold,
    )
    boxes = windows.grid.windows()
    reader = TileReader(
        mosaic,
        boxes,
        windows.grid.positions(),
        windows.selected,
        batch_size=options.batch_size,
        block=4,
        workers=read_workers(options.read_workers, predictor.device),
    )
    scale = windows.layout.scale
    accumulator = MapAccumulator(
        folder,
        windows.layout.shape,
        predictor.channels,
        boxes,
        reader,
        scale=scale,
        blend=options.blend,
        margin=options.margin // scale,
    )
    found: list[Instances] = []
    with progress_bar(len(windows.selected), "window", "windows", progress) as bar:
        for result in predictor(reader):
            accumulator.add(result.index, result.dense)
            if result.instances is not None and len(result.instances):
                y0, x0, y1, x1 = (int(v) for v in boxes[result.index])
                window = result.instances.to_mosaic(y0, x0).with_window((x0, y0, x1, y1))
                found.append(window)
            bar.update()
    accumulator.finish()
    return accumulator, found if predictor.family.task == Task.DETECTOR else None


def _merge(
    found: list[Instances], mosaic: Mosaic, options: WindowOptions, notes: list[str]
) -> Instances:
    """A detector's objects of every window merged across seams, clipped to the mosaic."""
    pieces = Instances.concatenate(found) if found else Instances.empty("mosaic")
    merged = merge_instances(
        pieces,
        method=options.merge,
        metric=options.merge_metric,
        threshold=options.merge_threshold,
    )
    instances = merged.clip(mosaic.info.height, mosaic.info.width)
    notes.append(f"{len(pieces)} detections in windows merged into {len(instances)}")
    return instances


def _window_edge(
    model: LoadedModel, mosaic: Mosaic, options: WindowOptions, scale: int
) -> tuple[int, list[str]]:
    """Window edge in mosaic pixels (a multiple of the map scale) and notes."""
    info = mosaic.info
    if options.window_px is not None:
        if options.window_px > max(info.height, info.width):
            raise InputError(
                info.path,
                f"window of {options.window_px} px is larger than the mosaic "
                f"({info.width} x {info.height} px); leave --window out to run an image "
                "smaller than the model's window as one window",
            )
        window_px, notes = options.window_px, list(info.notes)
    else:
        window_px, notes = tile_edge(model, mosaic)
    rounded = max(scale, window_px // scale * scale)
    if rounded != window_px:
        notes.append(f"window {window_px} px rounded to {rounded} px (map scale {scale})")
    return rounded, notes
