"""Synthetic RCM mosaics with ground truth, generated block by block with dask.

`make_spec` fixes everything random; `image_array` and `class_array` are lazy
dask arrays over a fixed 1024-pixel block grid (so the pixels do not depend on
how the output is chunked); `write_synthetic` writes the mosaic (tiled BigTIFF
or OME-Zarr), its lesion class mask (OME-Zarr) and its lesion boxes (COCO JSON).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np
from dask.base import tokenize

from rcm._dask import local_compute
from rcm._version import __version__
from rcm.data._synth_render import render_image, render_instances
from rcm.data._synth_spec import LESION_CLASSES, Lesion, SyntheticSpec, make_spec
from rcm.errors import OutputError
from rcm.io import (
    TiffCompression,
    ZarrWriteOptions,
    atomic_output,
    check_output,
    write_ome_zarr,
    write_tiff,
)

GENERATION_BLOCK = 1024


def _block_grid(spec: SyntheticSpec) -> tuple[tuple[int, ...], tuple[int, ...]]:
    def edges(n: int) -> tuple[int, ...]:
        return tuple(min(GENERATION_BLOCK, n - start) for start in range(0, n, GENERATION_BLOCK))

    return edges(spec.height), edges(spec.width)


def _coordinates(block_info: dict[Any, Any]) -> tuple[np.ndarray, np.ndarray]:
    (y0, y1), (x0, x1) = block_info[None]["array-location"]
    return np.arange(y0, y1), np.arange(x0, x1)


def _rendered(
    spec: SyntheticSpec, render: Callable[..., np.ndarray], dtype: type, kind: str
) -> da.Array:
    """A dask array whose blocks are `render(spec, ys, xs)` on the generation grid."""

    def block(block_info: dict[Any, Any] | None = None) -> np.ndarray:
        assert block_info is not None
        return render(spec, *_coordinates(block_info))

    token = tokenize(
        spec.height,
        spec.width,
        spec.seed,
        spec.um_per_px,
        spec.camera_block,
        spec.lesions,
        spec.dendrites,
    )
    return da.map_blocks(
        block, chunks=_block_grid(spec), dtype=dtype, name=f"rcm-synth-{kind}-{token}"
    )


def image_array(spec: SyntheticSpec) -> da.Array:
    """The mosaic's 8-bit grayscale pixels as a lazy dask array."""
    return _rendered(spec, render_image, np.uint8, "image")


def instance_array(spec: SyntheticSpec) -> da.Array:
    """Lesion instance ids (0 = no lesion), uint16, as a lazy dask array."""
    return _rendered(spec, render_instances, np.uint16, "instances")


def class_array(spec: SyntheticSpec) -> da.Array:
    """Lesion class per pixel (0 = no lesion; see `LESION_CLASSES`), uint8."""
    lookup = np.zeros(len(spec.lesions) + 1, np.uint8)
    for lesion in spec.lesions:
        lookup[lesion.index] = lesion.category
    return da.map_blocks(lambda ids: lookup[ids], instance_array(spec), dtype=np.uint8)


@dataclass(frozen=True)
class LesionBox:
    """Tight box of a lesion's pixels: ``[x, y, width, height]`` in mosaic pixels."""

    lesion: Lesion
    bbox: tuple[int, int, int, int]
    area: int


def lesion_boxes(
    spec: SyntheticSpec, progress: bool = False, workers: int | None = None
) -> list[LesionBox]:
    """Exact boxes and pixel areas of every lesion, from its rendered mask."""
    instances = instance_array(spec)
    n = len(spec.lesions) + 1

    def stats(ids: np.ndarray, block_info: dict[Any, Any] | None = None) -> np.ndarray:
        assert block_info is not None
        (y0, _), (x0, _) = block_info[0]["array-location"]
        out = np.zeros((1, 1, n, 5), np.int64)
        out[..., :2] = np.iinfo(np.int64).max
        out[..., 2:4] = -1
        rows, cols = np.nonzero(ids)
        labels = ids[rows, cols]
        np.minimum.at(out[0, 0, :, 0], labels, rows + y0)
        np.minimum.at(out[0, 0, :, 1], labels, cols + x0)
        np.maximum.at(out[0, 0, :, 2], labels, rows + y0)
        np.maximum.at(out[0, 0, :, 3], labels, cols + x0)
        np.add.at(out[0, 0, :, 4], labels, 1)
        return out

    per_block = da.map_blocks(
        stats, instances, new_axis=[2, 3], chunks=(1, 1, n, 5), dtype=np.int64
    )
    with local_compute("measuring lesions", progress=progress, workers=workers):
        table = per_block.compute()
    boxes = []
    for lesion in spec.lesions:
        column = table[:, :, lesion.index, :]
        area = int(column[..., 4].sum())
        if area == 0:
            continue
        top, left = int(column[..., 0].min()), int(column[..., 1].min())
        bottom, right = int(column[..., 2].max()), int(column[..., 3].max())
        boxes.append(LesionBox(lesion, (left, top, right - left + 1, bottom - top + 1), area))
    return boxes


def coco_document(spec: SyntheticSpec, boxes: list[LesionBox], file_name: str) -> dict[str, Any]:
    """COCO detection ground truth for one synthetic mosaic."""
    return {
        "info": {
            "description": "rcm synthetic RCM mosaic",
            "version": __version__,
            "seed": spec.seed,
            "um_per_px": spec.um_per_px,
        },
        "images": [{"id": 1, "file_name": file_name, "height": spec.height, "width": spec.width}],
        "categories": [
            {"id": category, "name": name, "supercategory": "lesion"}
            for category, name in LESION_CLASSES.items()
        ],
        "annotations": [
            {
                "id": box.lesion.index,
                "image_id": 1,
                "category_id": box.lesion.category,
                "bbox": list(box.bbox),
                "area": box.area,
                "iscrowd": 0,
            }
            for box in boxes
        ],
    }


def sidecar_paths(output: str | os.PathLike[str]) -> tuple[Path, Path]:
    """Where the class mask (OME-Zarr) and the COCO boxes go for a mosaic at `output`."""
    path = Path(output)
    stem = path.name[: -len(path.suffix)] if path.suffix else path.name
    return path.with_name(f"{stem}.lesions.zarr"), path.with_name(f"{stem}.lesions.json")


def write_synthetic(
    spec: SyntheticSpec,
    output: str | os.PathLike[str],
    *,
    tiff_compression: TiffCompression = "zlib",
    overwrite: bool = False,
    progress: bool = False,
    workers: int | None = None,
) -> dict[str, Path]:
    """Write a synthetic mosaic and its ground truth.

    Args:
        spec: The mosaic to render (see `make_spec`).
        output: ``*.tif``/``*.tiff`` for a tiled BigTIFF, ``*.zarr`` for OME-Zarr.
        tiff_compression: TIFF tile codec (none, zlib, zstd, lzw, jpeg).
        overwrite: Replace existing outputs.
        progress: Show progress bars.
        workers: Threads; None uses one per core.

    Returns:
        Paths of the ``mosaic``, ``mask`` and ``boxes`` outputs.

    """
    output = Path(output)
    mask_path, boxes_path = sidecar_paths(output)
    suffix = output.suffix.lower()
    if suffix not in (".tif", ".tiff", ".zarr"):
        raise OutputError(output, "synthetic mosaics are written as .tif/.tiff or .zarr")
    for path in (output, mask_path, boxes_path):
        check_output(path, overwrite=overwrite)
    _write_image(spec, output, tiff_compression, overwrite, progress, workers)
    _write_mask(spec, mask_path, overwrite, progress, workers)
    boxes = lesion_boxes(spec, progress=progress, workers=workers)
    with atomic_output(boxes_path, overwrite=overwrite) as partial:
        partial.write_text(json.dumps(coco_document(spec, boxes, output.name), indent=1))
    return {"mosaic": output, "mask": mask_path, "boxes": boxes_path}


def _write_image(
    spec: SyntheticSpec,
    output: Path,
    tiff_compression: TiffCompression,
    overwrite: bool,
    progress: bool,
    workers: int | None,
) -> None:
    """The mosaic itself, as OME-Zarr or tiled BigTIFF by `output`'s suffix."""
    attributes = {"synthetic": {"seed": spec.seed, "lesions": len(spec.lesions)}}
    image = image_array(spec)
    if output.suffix.lower() == ".zarr":
        write_ome_zarr(
            image,
            output,
            um_per_px=spec.um_per_px,
            name=output.stem,
            attributes=attributes,
            overwrite=overwrite,
            progress=progress,
            options=ZarrWriteOptions(workers=workers),
        )
    else:
        write_tiff(
            image,
            output,
            um_per_px=spec.um_per_px,
            compression=tiff_compression,
            overwrite=overwrite,
            progress=progress,
            workers=workers,
            description=json.dumps({"rcm": {"version": __version__, **attributes}}),
        )


def _write_mask(
    spec: SyntheticSpec, mask_path: Path, overwrite: bool, progress: bool, workers: int | None
) -> None:
    """The lesion class mask, an OME-Zarr label image naming its classes."""
    write_ome_zarr(
        class_array(spec),
        mask_path,
        um_per_px=spec.um_per_px,
        name="lesions",
        attributes={"classes": {str(k): v for k, v in LESION_CLASSES.items()}},
        options=ZarrWriteOptions(labels=True, workers=workers),
        overwrite=overwrite,
        progress=progress,
    )


__all__ = [
    "GENERATION_BLOCK",
    "LESION_CLASSES",
    "Lesion",
    "LesionBox",
    "SyntheticSpec",
    "class_array",
    "coco_document",
    "image_array",
    "instance_array",
    "lesion_boxes",
    "make_spec",
    "sidecar_paths",
    "write_synthetic",
]
