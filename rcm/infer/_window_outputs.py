"""The files a detector or segmenter run leaves per mosaic, from its stitched map and objects."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np
import zarr
from scipy import ndimage

from rcm.infer._shared import mosaic_summary, verdict
from rcm.infer._window_options import WindowOptions
from rcm.io import Mosaic, Thumbnail, ZarrWriteOptions, write_ome_zarr
from rcm.models import LoadedModel, Task
from rcm.outputs import (
    INSTANCES,
    SUMMARY,
    DetectionResults,
    InstancesBlock,
    MapLayout,
    MosaicSummary,
    Verdict,
    WindowsBlock,
)
from rcm.render import draw_boxes, heatmap_overlay, instance_features
from rcm.stitch import Instances, resize_nearest
from rcm.tiling import TileGrid


@dataclass(frozen=True)
class WindowRun:
    """Everything about a finished window run that the outputs describe."""

    mosaic: Mosaic
    model: LoadedModel
    model_name: str | None
    options: WindowOptions
    grid: TileGrid
    selected: np.ndarray
    layout: MapLayout
    overview: Thumbnail
    tissue_mask: np.ndarray
    notes: list[str]

    @property
    def category_ids(self) -> list[int]:
        """COCO category id of each label index (label = index into the model's classes).

        Detectors number their classes from 1; segmenters keep their class index
        (0, the background, is no category).
        """
        first = 1 if self.model.meta.task == Task.SEGMENTER else 0
        return [index + 1 - first for index in range(len(self.model.meta.classes))]

    @property
    def categories(self) -> list[dict[str, Any]]:
        """COCO categories of the model's classes (a segmenter's background excluded)."""
        meta = self.model.meta
        return [
            {"id": category, "name": name, "suspicious": name in meta.positive}
            for category, name in zip(self.category_ids, meta.classes, strict=True)
            if category > 0
        ]


def write_window_outputs(
    folder: Path, run: WindowRun, accumulated: zarr.Array, instances: Instances | None
) -> MosaicSummary:
    """Write every output of a window run into `folder`; return the summary.

    Args:
        folder: The (still partial) output folder.
        run: The run.
        accumulated: The blended dense map ``(H, W, C)`` at map scale.
        instances: Merged detections in mosaic pixels; None for segmenters, whose
            objects are the connected regions of each class in the label map.

    """
    meta, info, scale = run.model.meta, run.mosaic.info, run.layout.scale
    dense = da.from_zarr(accumulated)
    positive = list(meta.positive_indices) if meta.task == Task.SEGMENTER else [0]
    heat_lazy = dense[..., positive].sum(axis=-1) if len(positive) > 1 else dense[..., positive[0]]
    heat = np.asarray(heat_lazy.compute(scheduler="synchronous"), np.float32)
    tissue_map = resize_nearest(run.tissue_mask, heat.shape)
    suspicious = (np.nan_to_num(heat, nan=0.0) >= run.options.threshold) & tissue_map
    outcome = verdict(heat[tissue_map], run.options, classified=len(run.selected) > 0)

    _write_map(folder / "heatmap.zarr", da.from_array(heat, chunks=1024), run, "p_suspicious")
    if meta.task == Task.SEGMENTER:
        _write_map(folder / "probabilities.zarr", dense, run, "probabilities")
        covered = ~np.isnan(heat)
        labels = np.where(
            covered & tissue_map, dense.argmax(axis=-1).compute(scheduler="synchronous"), 0
        ).astype(np.uint8)
        instances = _regions(labels, accumulated, scale, run)
    else:
        assert instances is not None
        labels = _paint(instances, heat.shape, scale)
    _write_map(folder / "mask.zarr", suspicious.astype(np.uint8), run, "mask")
    _write_map(folder / "labels.zarr", labels, run, "labels")
    coco = instances.to_coco((info.height, info.width), run.category_ids)
    DetectionResults(tuple(coco)).write(folder / INSTANCES)
    geojson = instance_features(instances, meta.classes)
    (folder / "instances.geojson").write_text(json.dumps(geojson))
    heatmap_overlay(run.overview.pixels, info.dtype, heat, folder / "overlay.png")
    draw_boxes(folder / "overlay.png", instances, run.overview.scale)
    summary = _summary(run, outcome, instances)
    summary.write(folder / SUMMARY)
    return summary


def _write_map(path: Path, values: da.Array | np.ndarray, run: WindowRun, name: str) -> None:
    """One map as OME-Zarr: an image (heatmap, probabilities) or labels (mask, labels)."""
    info, scale = run.mosaic.info, run.layout.scale
    attributes: dict[str, Any] = {"scale_to_mosaic": scale}
    if name == "probabilities":
        attributes["channels"] = list(run.model.meta.classes)
    elif name == "mask":
        attributes["threshold"] = run.options.threshold
    elif name == "labels":
        attributes["categories"] = run.categories
    write_ome_zarr(
        values if isinstance(values, da.Array) else da.from_array(values, chunks=1024),
        path,
        um_per_px=info.um_per_px and info.um_per_px * scale,
        name=name,
        attributes=attributes,
        options=ZarrWriteOptions(labels=name in ("mask", "labels"), max_top_edge=1024),
    )


def _summary(run: WindowRun, outcome: Verdict, instances: Instances) -> MosaicSummary:
    counts = np.bincount(instances.labels, minlength=len(run.model.meta.classes))
    category_ids = run.category_ids
    mask = run.tissue_mask
    return mosaic_summary(
        run.mosaic,
        run.model,
        run.model_name,
        run.options,
        run.notes,
        verdict=outcome,
        tissue_fraction=float(mask.mean()) if mask.size else 0.0,
        map=run.layout,
        windows=WindowsBlock(
            grid=run.grid.shape,
            window_px=run.grid.tile,
            stride_px=run.grid.stride,
            total=len(run.grid),
            run=len(run.selected),
        ),
        categories=tuple(run.categories),
        instances=InstancesBlock(
            count=len(instances),
            by_category={
                c["name"]: int(counts[category_ids.index(c["id"])]) for c in run.categories
            },
        ),
    )


def _regions(labels: np.ndarray, accumulated: zarr.Array, scale: int, run: WindowRun) -> Instances:
    """A segmenter's objects: connected regions of each class, scored by their mean probability."""
    parts = []
    for label in range(1, len(run.model.meta.classes)):
        components, count = ndimage.label(labels == label)
        if not count:
            continue
        probability = np.nan_to_num(np.asarray(accumulated[..., label]), nan=0.0)
        scores = ndimage.mean(probability, components, np.arange(1, count + 1))
        boxes, masks, origins = [], [], []
        for number, found in enumerate(ndimage.find_objects(components), start=1):
            assert found is not None
            rows, cols = found
            crop = components[found] == number
            masks.append(crop.repeat(scale, axis=0).repeat(scale, axis=1))
            origins.append((rows.start * scale, cols.start * scale))
            boxes.append([cols.start, rows.start, cols.stop, rows.stop])
        parts.append(
            Instances(
                np.array(boxes, np.float64) * scale,
                np.clip(scores, 0, 1),
                np.full(count, label),
                "mosaic",
                tuple(masks),
                np.array(origins, np.int64),
            )
        )
    info = run.mosaic.info
    found_all = Instances.concatenate(parts) if parts else Instances.empty("mosaic", True)
    return found_all.clip(info.height, info.width)


def _paint(instances: Instances, shape: tuple[int, ...], scale: int) -> np.ndarray:
    """Category of each map pixel (0 = none) from objects, better scores painted last."""
    labels = np.zeros(shape[:2], np.uint8)
    half = scale // 2  # a map pixel takes the value at its centre
    for index in np.argsort(instances.scores, kind="stable"):
        value = instances.labels[index] + 1
        if instances.masks is None:
            x0, y0, x1, y1 = instances.boxes[index]
            rows = slice(int(np.ceil((y0 - half) / scale)), int(np.ceil((y1 - half) / scale)))
            cols = slice(int(np.ceil((x0 - half) / scale)), int(np.ceil((x1 - half) / scale)))
            labels[rows, cols] = value
            continue
        mask, (top, left) = instances.masks[index], instances.mask_origins[index]
        first_row = int(np.ceil((top - half) / scale))
        first_col = int(np.ceil((left - half) / scale))
        sampled = mask[
            first_row * scale + half - top :: scale, first_col * scale + half - left :: scale
        ]
        region = labels[
            first_row : first_row + sampled.shape[0], first_col : first_col + sampled.shape[1]
        ]
        region[sampled[: region.shape[0], : region.shape[1]]] = value
    return labels
