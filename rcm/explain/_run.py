"""Explanations for the suspicious tiles of a classifier's output, stitched to mosaic level.

Reads what `rcm infer` wrote (summary.json, tiles.csv), checks the mosaic and
model are the very files it used, re-reads only the tiles above the cut, and
adds an ``explanation/`` folder (written atomically) to the output.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rcm.errors import InputError, bad_input
from rcm.explain._options import ExplainOptions
from rcm.explain._outputs import write_explanation
from rcm.explain._tiles import explain_tiles
from rcm.infer import pick_device
from rcm.io import Mosaic, atomic_output, open_mosaic
from rcm.models import LoadedModel, Task, load_model
from rcm.outputs import (
    EXPLANATION,
    SUMMARY,
    TILES,
    MosaicSummary,
    OutputFormatError,
    TileTable,
)


@dataclass(frozen=True)
class ExplainResult:
    """Where the explanation went and what it found."""

    output: Path
    tiles_explained: int
    faithfulness: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict)


def explain_output(
    output: str | os.PathLike[str],
    *,
    mosaic: Mosaic | None = None,
    model: LoadedModel | None = None,
    options: ExplainOptions | None = None,
    overwrite: bool = False,
    progress: bool = False,
    allow_missing_chunks: bool = False,
) -> ExplainResult:
    """Add Grad-CAM explanations of the suspicious tiles to a classifier's output folder.

    Writes ``OUTPUT/explanation/``: ``explanation.zarr`` (the stitched map, 0 to 1,
    aligned with ``heatmap.zarr``, zero outside explained tissue), ``overlay.png``,
    ``gallery.png`` (the highest-scoring tiles next to their maps), ``tiles.csv``
    (per explained tile: score, and score with the most explained / random
    pixels blocked) and ``summary.json``.

    Args:
        output: A folder written by `rcm infer` with a tile classifier.
        mosaic: The mosaic it was run on; None opens the file recorded there.
        model: The model it used; None loads the file recorded there.
        options: What to explain and measure.
        overwrite: Replace an existing explanation.
        progress: Show a progress bar.
        allow_missing_chunks: As ``rcm infer --allow-missing-chunks``.

    Raises:
        InputError: If the folder is not a classifier's output, or the mosaic or
            model differ from those the output was made with.

    """
    options = options or ExplainOptions()
    summary = _read_summary(folder := Path(output))
    inputs = (mosaic, model, options, allow_missing_chunks)
    mosaic, model, device = _check_inputs(folder, summary, *inputs)
    tiles = TileTable.read(folder / TILES)
    cut = summary.verdict.threshold if options.cut is None else options.cut
    selected = np.flatnonzero(np.nan_to_num(tiles.suspicious, nan=-1.0) >= cut)
    assert summary.tiles is not None  # a classifier's summary
    timings: dict[str, float] = {}
    started = time.perf_counter()
    with atomic_output(folder / EXPLANATION, overwrite=overwrite) as partial:
        partial.mkdir()
        explained = explain_tiles(
            partial,
            mosaic,
            model,
            device,
            tiles,
            selected,
            summary.map,
            summary.tiles.tile_px,
            options,
            progress,
        )
        timings["explain_s"] = time.perf_counter() - started
        args = (partial, mosaic, model, explained, summary.map, tiles, cut, options)
        faithful = write_explanation(*args)
    return ExplainResult(folder / EXPLANATION, len(explained.table), faithful, timings)


def _recorded_mosaic(summary: MosaicSummary, allow_missing_chunks: bool) -> Mosaic:
    """The mosaic file the output records, opened as `rcm infer` opened it."""
    recorded = summary.mosaic
    return open_mosaic(
        recorded.path, um_per_px=recorded.um_per_px, allow_missing_chunks=allow_missing_chunks
    )


def _check_inputs(
    folder: Path,
    summary: MosaicSummary,
    mosaic: Mosaic | None,
    model: LoadedModel | None,
    options: ExplainOptions,
    allow_missing_chunks: bool,
) -> tuple[Mosaic, LoadedModel, torch.device]:
    """The mosaic and model the output was made from (opened when not given), on the device."""
    mosaic = mosaic or _recorded_mosaic(summary, allow_missing_chunks)
    if mosaic.info.checksum != summary.mosaic.checksum:
        raise InputError(mosaic.info.path, f"not the mosaic {folder} was made from (checksum)")
    with bad_input():  # a device that does not exist
        device = pick_device(options.device)
    with bad_input(summary.model.file):
        model = model or load_model(summary.model.file, device=device)
    if model.checksum != summary.model.checksum:
        raise InputError(model.path, f"not the model {folder} was made with (checksum)")
    model.module.to(device).eval()
    return mosaic, model, device


def _read_summary(folder: Path) -> MosaicSummary:
    """The summary of a tile classifier's output folder."""
    try:
        summary = MosaicSummary.read(folder / SUMMARY)
    except OutputFormatError as error:
        raise InputError(folder, f"not an rcm infer output ({error.reason})") from error
    if summary.task != Task.CLASSIFIER or not (folder / TILES).exists():
        raise InputError(folder, "explanations are made for tile classifier outputs only")
    return summary
