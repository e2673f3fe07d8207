"""Grad-CAM of the selected tiles of a classifier's output, stitched into a map as they come.

The tiles are re-read with the prefetching reader, explained in batches, and
each tile's map (snapped to the heatmap's map pixels) blended into a temporary
map; the faithfulness test blocks pixels of the same batch in one extra pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from rcm.errors import bad_input
from rcm.explain._gradcam import class_activation_maps, occlude, random_masks, top_fraction_masks
from rcm.explain._options import ExplainOptions
from rcm.infer import MapAccumulator, TileBatch, TileReader, prepare, progress_bar, read_workers
from rcm.io import Mosaic
from rcm.models import LoadedModel
from rcm.outputs import ExplanationTable, MapLayout, TileTable

# Score, tile pixels (mosaic pixels), map at the model's input size (differs when the
# mosaic's pixel size is not the model's: the gallery resizes both).
Crop = tuple[float, np.ndarray, np.ndarray]


@dataclass(frozen=True)
class Explained:
    """The explained tiles: their stitched map, their rows, the best crops for the gallery."""

    accumulator: MapAccumulator
    table: ExplanationTable
    crops: list[Crop]


def explain_tiles(
    folder: Path,
    mosaic: Mosaic,
    model: LoadedModel,
    device: torch.device,
    tiles: TileTable,
    selected: np.ndarray,
    layout: MapLayout,
    tile_px: int,
    options: ExplainOptions,
    progress: bool,
) -> Explained:
    """Explain the `selected` tiles; their map is blended into an accumulator in `folder`."""
    scale = layout.scale
    snapped = _snap(tiles.windows, scale)
    reader = TileReader(
        mosaic,
        tiles.windows,
        tiles.positions,
        selected,
        batch_size=options.batch_size,
        workers=read_workers(None, device),
    )
    accumulator = MapAccumulator(
        folder, layout.shape, 1, snapped, reader, scale=scale, blend="constant"
    )
    rows: list[list[float]] = []
    crops: list[Crop] = []
    with progress_bar(len(selected), "tile", "explaining", progress) as bar:
        for batch in reader:
            inputs = prepare(batch.pixels, model, device, tile_px)
            upsampled, scores = _maps(model, inputs, options)
            drops = _occlusion_scores(model, inputs, upsampled[:, 0], options, batch.indices)
            for row, index in enumerate(batch.indices):
                y0, x0, y1, x1 = snapped[index] // scale
                size = (int(y1 - y0), int(x1 - x0))
                tile_map = F.interpolate(upsampled[row : row + 1], size=size, mode="area")
                accumulator.add(int(index), tile_map[0].cpu().numpy())
                rows.append([int(index), float(scores[row]), *drops[row]])
            crops = _best_crops(crops, batch, upsampled, scores, options.gallery)
            bar.update(len(batch.indices))
    accumulator.finish()
    rows.sort()
    values = np.array(rows, np.float64).reshape(-1, 4)
    table = ExplanationTable(values[:, 0].astype(np.int64), *values[:, 1:].T)
    return Explained(accumulator, table, crops)


def _maps(
    model: LoadedModel, inputs: torch.Tensor, options: ExplainOptions
) -> tuple[torch.Tensor, torch.Tensor]:
    """Each tile's map upsampled to the model's input, ``(n, 1, h, w)``, and its score."""
    with bad_input(model.path):  # e.g. a ViT: tokens without a spatial grid
        maps, scores = class_activation_maps(
            model.module, inputs, model.meta.positive_indices, method=options.method
        )
    return F.interpolate(maps[:, None], size=inputs.shape[-2:], mode="bilinear"), scores


def _best_crops(
    crops: list[Crop],
    batch: TileBatch,
    upsampled: torch.Tensor,
    scores: torch.Tensor,
    keep: int,
) -> list[Crop]:
    """The `keep` highest-scoring crops so far (earlier tiles first among equals)."""
    for row in range(len(batch.indices)):
        tile_map = upsampled[row, 0].cpu().numpy()
        crops.append((float(scores[row]), batch.pixels[row].copy(), tile_map))
    return sorted(crops, key=lambda item: -item[0])[:keep]


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
