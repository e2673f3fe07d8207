"""The ``explanation/`` folder: stitched map, overlay, gallery, per-tile table and summary."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np
import torch

from rcm._version import __version__
from rcm.explain._options import ExplainOptions
from rcm.explain._tiles import Explained
from rcm.io import Mosaic, Thumbnail, ZarrWriteOptions, thumbnail, write_ome_zarr
from rcm.metrics import faithfulness_summary
from rcm.models import LoadedModel
from rcm.outputs import SUMMARY, TILES, ExplanationSummary, MapLayout, TileTable
from rcm.render import heatmap_overlay, write_gallery
from rcm.stitch import resize_nearest
from rcm.tiling import TissueOptions, tissue_from_overview


def write_explanation(
    folder: Path,
    mosaic: Mosaic,
    model: LoadedModel,
    explained: Explained,
    layout: MapLayout,
    tiles: TileTable,
    cut: float,
    options: ExplainOptions,
) -> dict[str, Any]:
    """Write the explanation's files into the (still partial) `folder`; return its faithfulness."""
    info, scale = mosaic.info, layout.scale
    overview = thumbnail(mosaic, TissueOptions().max_edge)
    stitched = np.asarray(explained.accumulator.array[..., 0])
    explanation = _tissue_only(stitched, overview, info.dtype)
    explained.accumulator.remove()
    write_ome_zarr(
        da.from_array(explanation, chunks=1024),
        folder / "explanation.zarr",
        um_per_px=info.um_per_px and info.um_per_px * scale,
        name="explanation",
        attributes={"scale_to_mosaic": scale, "method": options.method},
        options=ZarrWriteOptions(max_top_edge=1024),
    )
    shown = np.where(explanation > 0, explanation, np.nan)
    heatmap_overlay(overview.pixels, info.dtype, shown, folder / "overlay.png")
    write_gallery(folder / "gallery.png", explained.crops)
    table = explained.table
    table.write(folder / TILES)
    measured = options.faithfulness and len(table) > 0
    faithful = (
        faithfulness_summary(table.scores, table.top_blocked, table.random_blocked)
        if measured
        else {}
    )
    ExplanationSummary(
        method=options.method,
        cut=cut,
        tiles_explained=len(table),
        tiles_classified=int(np.count_nonzero(tiles.classified)),
        faithfulness=faithful,
        map=layout,
        mosaic_checksum=info.checksum,
        model_checksum=model.checksum,
        options=asdict(options),
        versions={"rcm": __version__, "torch": torch.__version__},
    ).write(folder / SUMMARY)
    return faithful


def _tissue_only(explanation: np.ndarray, overview: Thumbnail, dtype: str) -> np.ndarray:
    """The map with NaN (no explained tile) and everything off tissue set to 0."""
    tissue = tissue_from_overview(overview.pixels, overview.scale, dtype, TissueOptions())
    on_tissue = resize_nearest(tissue.mask, explanation.shape)
    return np.where(on_tissue, np.nan_to_num(explanation, nan=0.0), 0.0).astype(np.float32)
