"""`detect_mosaic`: one mosaic through a detector or segmenter in sliding windows.

Windows over tissue are read ahead in blocks, run in batches, and their dense
outputs blended chunk by chunk into a zarr map (memory bounded by the windows in
flight, not by the mosaic). Detections are moved to mosaic pixels as they come
and merged across window seams once all windows are done.
"""

from __future__ import annotations

import csv
import math
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import zarr
from tqdm import tqdm

from rcm.errors import InputError
from rcm.infer._options import Decision
from rcm.infer._reader import TileReader
from rcm.infer._runner import pick_device
from rcm.infer._shared import map_scale, tile_edge
from rcm.infer._window_options import WindowOptions
from rcm.infer._window_outputs import WindowRun, write_window_outputs
from rcm.infer._window_runner import WindowPredictor
from rcm.io import Mosaic
from rcm.io._atomic import atomic_output
from rcm.io._thumbnail import thumbnail
from rcm.models import LoadedModel
from rcm.stitch import BlendedMap, Instances, merge_instances
from rcm.tiling import TileGrid, TissueOptions, tissue_from_overview, window_fractions

ACCUMULATOR_CHUNK = 512  # map pixels per accumulator chunk edge


@dataclass(frozen=True)
class WindowResult:
    """What `detect_mosaic` decided and where it wrote it."""

    output: Path
    status: str
    decision: Decision
    score: float
    coverage_at_threshold: float
    windows_total: int
    windows_run: int
    instances: int
    timings: dict[str, float] = field(default_factory=dict)


def detect_mosaic(
    mosaic: Mosaic,
    model: LoadedModel,
    output: str | os.PathLike[str],
    *,
    options: WindowOptions | None = None,
    model_name: str | None = None,
    overwrite: bool = False,
    progress: bool = False,
) -> WindowResult:
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
    info = mosaic.info
    timings: dict[str, float] = {}
    started = time.perf_counter()
    scale = map_scale(info.height, info.width, options.map_max_edge)
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
    timings["tissue_s"] = time.perf_counter() - started

    map_shape = (math.ceil(info.height / scale), math.ceil(info.width / scale))
    device = pick_device(options.device)
    predictor = WindowPredictor(
        model,
        device,
        window_px,
        scale,
        min_score=options.min_score,
        max_detections=options.max_detections,
        mask_threshold=options.mask_threshold,
    )
    with atomic_output(output, overwrite=overwrite) as folder:
        folder.mkdir()
        started = time.perf_counter()
        accumulated = zarr.create_array(
            store=str(folder / ".accumulated.zarr"),
            shape=(*map_shape, predictor.channels),
            chunks=(ACCUMULATOR_CHUNK, ACCUMULATOR_CHUNK, predictor.channels),
            dtype="float32",
            fill_value=float("nan"),
        )
        reader = TileReader(
            mosaic,
            windows,
            grid.positions(),
            selected,
            batch_size=options.batch_size,
            block=4,
            workers=options.read_workers or (4 if device.type == "cuda" else 1),
        )
        order = np.concatenate(reader.groups) if reader.groups else np.zeros(0, np.int64)
        blended = BlendedMap(
            accumulated,
            windows,
            order,
            scale=scale,
            blend=options.blend,
            margin=options.margin // scale,
        )
        found: list[Instances] = []
        with tqdm(
            total=len(selected), unit="window", desc="windows", disable=not progress, leave=False
        ) as bar:
            for result in predictor(reader):
                blended.add(result.index, result.dense)
                if result.instances is not None and len(result.instances):
                    y0, x0 = windows[result.index, :2]
                    found.append(result.instances.to_mosaic(int(y0), int(x0)))
                bar.update()
        blended.finish()
        timings["windows_s"] = time.perf_counter() - started

        started = time.perf_counter()
        instances = None
        if predictor.family.task == "detector":
            pieces = Instances.concatenate(found) if found else Instances.empty("mosaic")
            merged = merge_instances(
                pieces,
                method=options.merge,
                metric=options.merge_metric,
                threshold=options.merge_threshold,
            )
            instances = merged.clip(info.height, info.width)
            notes.append(f"{len(pieces)} detections in windows merged into {len(instances)}")
        timings["merge_s"] = time.perf_counter() - started

        started = time.perf_counter()
        run = WindowRun(
            mosaic=mosaic,
            model=model,
            model_name=model_name,
            options=options,
            grid=grid,
            selected=selected,
            scale=scale,
            overview=overview,
            tissue_mask=tissue_mask,
            notes=notes,
        )
        summary = write_window_outputs(folder, run, accumulated, instances)
        _write_windows_csv(folder / "windows.csv", grid, fractions, selected)
        shutil.rmtree(folder / ".accumulated.zarr")
        timings["outputs_s"] = time.perf_counter() - started
    return WindowResult(
        Path(output),
        summary["status"],
        summary["decision"],
        summary["score"],
        summary["coverage_at_threshold"],
        len(windows),
        len(selected),
        summary["instances"]["count"],
        timings,
    )


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


def _write_windows_csv(
    path: Path, grid: TileGrid, fractions: np.ndarray, selected: np.ndarray
) -> None:
    ran = np.zeros(len(fractions), bool)
    ran[selected] = True
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["window", "row", "col", "y0", "x0", "y1", "x1", "tissue", "run"])
        rows = zip(grid.windows(), grid.positions(), fractions, ran, strict=True)
        for index, (window, position, fraction, done) in enumerate(rows):
            writer.writerow(
                [index, *position.tolist(), *window.tolist(), f"{fraction:.4f}", int(done)]
            )
