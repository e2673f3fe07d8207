"""Explanations for the suspicious tiles of a classifier's output, stitched to mosaic level.

Reads what `rcm infer` wrote (summary.json, tiles.csv), checks the mosaic and
model are the very files it used, re-reads only the tiles above the cut, and
adds an ``explanation/`` folder (written atomically) to the output.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np
import torch
import torch.nn.functional as F
import zarr
from tqdm import tqdm

from rcm._version import __version__
from rcm.errors import InputError
from rcm.explain._gallery import write_gallery
from rcm.explain._gradcam import class_activation_maps, occlude, random_masks, top_fraction_masks
from rcm.explain._options import ExplainOptions
from rcm.infer._reader import TileReader
from rcm.infer._runner import pick_device, prepare
from rcm.io import Mosaic, ZarrWriteOptions, open_mosaic, write_ome_zarr
from rcm.io._atomic import atomic_output
from rcm.io._thumbnail import Thumbnail, thumbnail
from rcm.metrics import faithfulness_summary
from rcm.models import LoadedModel, load_model
from rcm.report import heatmap_overlay
from rcm.stitch import BlendedMap, resize_nearest
from rcm.tiling import TissueOptions, tissue_from_overview

FOLDER = "explanation"


@dataclass(frozen=True)
class ExplainResult:
    """Where the explanation went and what it found."""

    output: Path
    tiles_explained: int
    faithfulness: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class _Tiles:
    windows: np.ndarray
    positions: np.ndarray
    scores: np.ndarray


def explain_output(
    output: str | os.PathLike[str],
    *,
    mosaic: Mosaic | None = None,
    model: LoadedModel | None = None,
    options: ExplainOptions | None = None,
    overwrite: bool = False,
    progress: bool = False,
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

    Raises:
        InputError: If the folder is not a classifier's output, or the mosaic or
            model differ from those the output was made with.

    """
    options = options or ExplainOptions()
    folder = Path(output)
    summary = _read_summary(folder)
    mosaic = mosaic or open_mosaic(
        summary["mosaic"]["path"], um_per_px=summary["mosaic"].get("um_per_px")
    )
    if mosaic.info.checksum != summary["mosaic"]["checksum"]:
        raise InputError(mosaic.info.path, f"not the mosaic {folder} was made from (checksum)")
    device = pick_device(options.device)
    model = model or load_model(summary["model"]["file"], device=device)
    if model.checksum != summary["model"]["checksum"]:
        raise InputError(model.path, f"not the model {folder} was made with (checksum)")
    model.module.to(device).eval()
    tiles = _read_tiles(folder / "tiles.csv")
    cut = summary["threshold"] if options.cut is None else options.cut
    selected = np.flatnonzero(np.nan_to_num(tiles.scores, nan=-1.0) >= cut)

    timings: dict[str, float] = {}
    started = time.perf_counter()
    scale = int(summary["map"]["scale"])
    map_shape = tuple(summary["map"]["shape"])
    snapped = _snap(tiles.windows, scale)
    tile_px = int(summary["tiles"]["tile_px"])
    rows: list[list[Any]] = []
    crops: list[tuple[float, np.ndarray, np.ndarray]] = []
    with atomic_output(folder / FOLDER, overwrite=overwrite) as partial:
        partial.mkdir()
        accumulated = zarr.create_array(
            store=str(partial / ".accumulated.zarr"),
            shape=(*map_shape, 1),
            chunks=(512, 512, 1),
            dtype="float32",
            fill_value=float("nan"),
        )
        reader = TileReader(
            mosaic,
            tiles.windows,
            tiles.positions,
            selected,
            batch_size=options.batch_size,
            workers=4 if device.type == "cuda" else 1,
        )
        order = np.concatenate(reader.groups) if reader.groups else np.zeros(0, np.int64)
        blended = BlendedMap(accumulated, snapped, order, scale=scale, blend="constant")
        with tqdm(
            total=len(selected), unit="tile", desc="explaining", disable=not progress, leave=False
        ) as bar:
            for batch in reader:
                inputs = prepare(batch.pixels, model, device, tile_px)
                try:
                    maps, scores = class_activation_maps(
                        model.module, inputs, model.meta.positive_indices, method=options.method
                    )
                except ValueError as error:  # e.g. a ViT: tokens without a spatial grid
                    raise InputError(model.path, str(error)) from error
                upsampled = F.interpolate(maps[:, None], size=inputs.shape[-2:], mode="bilinear")
                drops = _occlusion_scores(model, inputs, upsampled[:, 0], options, batch.indices)
                for row, index in enumerate(batch.indices):
                    y0, x0, y1, x1 = snapped[index] // scale
                    size = (int(y1 - y0), int(x1 - x0))
                    tile_map = F.interpolate(upsampled[row : row + 1], size=size, mode="area")
                    blended.add(int(index), tile_map[0].cpu().numpy())
                    score = float(scores[row])
                    rows.append([int(index), score, *drops[row]])
                    tile_map_full = upsampled[row, 0].cpu().numpy()
                    crops.append((score, batch.pixels[row].copy(), tile_map_full))
                crops = sorted(crops, key=lambda item: -item[0])[: options.gallery]
                bar.update(len(batch.indices))
        blended.finish()
        timings["explain_s"] = time.perf_counter() - started

        overview = thumbnail(mosaic, TissueOptions().max_edge)
        explanation = _tissue_only(np.asarray(accumulated[..., 0]), overview, mosaic.info.dtype)
        shutil.rmtree(partial / ".accumulated.zarr")
        write_ome_zarr(
            da.from_array(explanation, chunks=1024),
            partial / "explanation.zarr",
            um_per_px=mosaic.info.um_per_px and mosaic.info.um_per_px * scale,
            name="explanation",
            attributes={"scale_to_mosaic": scale, "method": options.method},
            options=ZarrWriteOptions(max_top_edge=1024),
        )
        shown = np.where(explanation > 0, explanation, np.nan)
        heatmap_overlay(overview.pixels, mosaic.info.dtype, shown, partial / "overlay.png")
        write_gallery(partial / "gallery.png", crops)
        rows.sort()
        _write_rows(partial / "tiles.csv", rows, options.faithfulness)
        table = np.array([row[1:] for row in rows], np.float64).reshape(-1, 3)
        measured = options.faithfulness and len(rows) > 0
        faithful = faithfulness_summary(*table.T) if measured else {}
        (partial / "summary.json").write_text(
            json.dumps(
                {
                    "method": options.method,
                    "cut": cut,
                    "tiles_explained": len(rows),
                    "tiles_classified": int(np.count_nonzero(~np.isnan(tiles.scores))),
                    "faithfulness": faithful,
                    "map": {"scale": scale, "shape": list(map_shape)},
                    "options": asdict(options),
                    "mosaic_checksum": mosaic.info.checksum,
                    "model_checksum": model.checksum,
                    "versions": {"rcm": __version__, "torch": torch.__version__},
                },
                indent=2,
                sort_keys=True,
            )
        )
    return ExplainResult(folder / FOLDER, len(rows), faithful, timings)


def _read_summary(folder: Path) -> dict[str, Any]:
    try:
        summary: dict[str, Any] = json.loads((folder / "summary.json").read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise InputError(folder, f"not an rcm infer output ({error})") from error
    if summary.get("task", "classifier") != "classifier" or not (folder / "tiles.csv").exists():
        raise InputError(folder, "explanations are made for tile classifier outputs only")
    return summary


def _read_tiles(path: Path) -> _Tiles:
    windows, positions, scores = [], [], []
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            windows.append([int(row[k]) for k in ("y0", "x0", "y1", "x1")])
            positions.append([int(row["row"]), int(row["col"])])
            scores.append(float(row["p_suspicious"]) if row["p_suspicious"] else np.nan)
    return _Tiles(
        np.array(windows, np.int64).reshape(-1, 4),
        np.array(positions, np.int64).reshape(-1, 2),
        np.array(scores, np.float64),
    )


def _snap(windows: np.ndarray, scale: int) -> np.ndarray:
    """Windows on the map's pixel grid (as the heatmap paints them), at least one map pixel."""
    snapped = windows // scale * scale
    snapped[:, 2:] = np.maximum(snapped[:, 2:], snapped[:, :2] + scale)
    return snapped


def _occlusion_scores(
    model: LoadedModel,
    inputs: torch.Tensor,
    maps: torch.Tensor,
    options: ExplainOptions,
    indices: np.ndarray,
) -> list[tuple[float, float]]:
    """Suspicious probability with the top explained pixels blocked, and with random ones."""
    if not options.faithfulness:
        return [(float("nan"), float("nan"))] * len(inputs)
    # Blocked pixels become black: the background of an RCM mosaic.
    fill = (0 - torch.tensor(model.meta.mean)) / torch.tensor(model.meta.std)
    fill = fill.to(inputs.device, inputs.dtype)
    top = top_fraction_masks(maps, options.occlusion)
    count, height, width = maps.shape
    seeded = random_masks((count, height, width), options.occlusion, options.seed + int(indices[0]))
    blocked = torch.cat(
        [occlude(inputs, ~top, fill), occlude(inputs, ~seeded.to(inputs.device), fill)]
    )
    with torch.inference_mode():
        logits = model.module(blocked).float()
    positive = list(model.meta.positive_indices)
    probabilities = torch.softmax(logits, dim=1)[:, positive].sum(dim=1).cpu().numpy()
    half = len(inputs)
    return list(zip(probabilities[:half].tolist(), probabilities[half:].tolist(), strict=True))


def _tissue_only(explanation: np.ndarray, overview: Thumbnail, dtype: str) -> np.ndarray:
    """The map with NaN (no explained tile) and everything off tissue set to 0."""
    tissue = tissue_from_overview(overview.pixels, overview.scale, dtype, TissueOptions())
    on_tissue = resize_nearest(tissue.mask, explanation.shape)
    return np.where(on_tissue, np.nan_to_num(explanation, nan=0.0), 0.0).astype(np.float32)


def _write_rows(path: Path, rows: list[list[Any]], faithfulness: bool) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["tile", "p_suspicious", "p_top_blocked", "p_random_blocked"])
        for index, score, top, random in rows:
            blocked = [f"{top:.7g}", f"{random:.7g}"] if faithfulness else ["", ""]
            writer.writerow([index, f"{score:.7g}", *blocked])
