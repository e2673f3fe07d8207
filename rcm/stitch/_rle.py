"""COCO run-length encoding of cropped masks, without allocating the image they lie in.

A mosaic can be 30,000 x 30,000 pixels; `pycocotools.mask.encode` would need the
whole image as an array per instance. The runs of a crop placed at an origin are
computed directly in full-image (column-major) indices instead, for many crops
at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from faster_coco_eval.core import mask as coco_mask


def crops_runs(
    masks: Sequence[np.ndarray], origins: np.ndarray, size: tuple[int, int]
) -> list[list[int]]:
    """Uncompressed COCO run lengths of each mask placed at its origin in an image of `size`.

    Args:
        masks: 2-D bool crops.
        origins: ``(n, 2)`` ``(y, x)`` of each crop's top-left pixel in the image.
        size: ``(height, width)`` of the image.

    Returns:
        Per mask, alternating run lengths, zeros first, in column-major pixel order
        (as ``pycocotools.mask.encode`` counts them before compression).

    Raises:
        ValueError: If a crop is not 2-D or does not lie inside the image.

    """
    height, width = (int(v) for v in size)
    origins = np.asarray(origins, np.int64).reshape(-1, 2)
    shapes = _checked_shapes(masks, origins, (height, width))
    boundaries, owner = _boundaries(masks, origins, shapes, height)
    return _run_lengths(boundaries, owner, len(masks), height * width)


def _checked_shapes(
    masks: Sequence[np.ndarray], origins: np.ndarray, size: tuple[int, int]
) -> np.ndarray:
    """The ``(n, 2)`` crop shapes, once every crop is known to be 2-D and inside the image."""
    height, width = size
    if len(origins) != len(masks):
        raise ValueError(f"{len(masks)} masks for {len(origins)} origins")
    if any(np.ndim(mask) != 2 for mask in masks):
        raise ValueError("masks must be 2-D")
    shapes = np.array([np.shape(mask) for mask in masks], np.int64).reshape(-1, 2)
    outside = (origins < 0).any(axis=1) | (origins + shapes > [height, width]).any(axis=1)
    if outside.any():
        index = int(np.argmax(outside))
        shape, (y, x) = tuple(shapes[index].tolist()), origins[index].tolist()
        raise ValueError(
            f"mask {index} of shape {shape} at (y, x) = ({y}, {x}) does not fit in an "
            f"image of size {(height, width)}; clip the instances first"
        )
    return shapes


def _boundaries(
    masks: Sequence[np.ndarray], origins: np.ndarray, shapes: np.ndarray, height: int
) -> tuple[np.ndarray, np.ndarray]:
    """Full-image indices where runs start or end, and the crop each belongs to, in order."""
    top, left = origins[:, 0], origins[:, 1]
    # Each crop, transposed so its columns run contiguously, gets a zero row above and
    # below every column: no run continues into the next column or the next crop, and
    # transitions alternate (start of a run of ones, its end, ...).
    column_length = shapes[:, 0] + 2
    lengths = column_length * shapes[:, 1]
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    buffer = np.zeros(int(offsets[-1]), np.int8)
    for mask, offset, length, rows in zip(
        masks, offsets[:-1].tolist(), lengths.tolist(), column_length.tolist(), strict=True
    ):
        buffer[offset : offset + length].reshape(-1, rows)[:, 1:-1] = np.asarray(mask, bool).T
    changes = np.flatnonzero(np.diff(buffer)) + 1
    owner = np.searchsorted(offsets, changes, side="right") - 1
    column, row = np.divmod(changes - offsets[owner], column_length[owner])
    boundaries = (left[owner] + column) * height + (top[owner] - 1 + row)
    # Runs of neighbouring columns meet where a crop spans the image height.
    joined = (boundaries[2::2] == boundaries[1:-1:2]) & (owner[2::2] == owner[1:-1:2])
    if joined.any():
        keep = np.ones(len(boundaries), bool)
        keep[1:-1] = np.repeat(~joined, 2)
        boundaries, owner = boundaries[keep], owner[keep]
    return boundaries, owner


def _run_lengths(
    boundaries: np.ndarray, owner: np.ndarray, count: int, total: int
) -> list[list[int]]:
    """Per crop, the run lengths between its boundaries, zeros first, up to the image end."""
    # Run lengths are differences of boundaries within one crop, the first one
    # counted from pixel 0; the last zero run (to the image end) is added below.
    steps = np.diff(boundaries, prepend=0)
    firsts = np.flatnonzero(np.diff(owner, prepend=-1))
    steps[firsts] = boundaries[firsts]
    cuts = np.searchsorted(owner, np.arange(count + 1))
    step_list, ends = steps.tolist(), boundaries.tolist()
    runs = []
    for start, stop in zip(cuts[:-1].tolist(), cuts[1:].tolist(), strict=True):
        counts = step_list[start:stop]
        last = ends[stop - 1] if stop > start else 0
        if last < total or not counts:
            counts.append(total - last)  # COCO leaves out a trailing empty zero run
        runs.append(counts)
    return runs


def crops_to_rle(
    masks: Sequence[np.ndarray], origins: np.ndarray, size: tuple[int, int]
) -> list[dict[str, Any]]:
    """Compressed COCO RLEs of crops placed at their origins in an image of `size`.

    Args:
        masks: 2-D bool crops.
        origins: ``(n, 2)`` ``(y, x)`` of each crop's top-left pixel in the image.
        size: ``(height, width)`` of the image.

    Returns:
        Per crop ``{"size": [height, width], "counts": str}``, JSON-ready and equal
        to ``pycocotools.mask.encode`` of the full image (counts decoded as ASCII).

    Raises:
        ValueError: If a crop does not lie inside the image.

    """
    height, width = (int(v) for v in size)
    if not masks:
        return []
    uncompressed = [
        {"size": [height, width], "counts": counts}
        for counts in crops_runs(masks, origins, (height, width))
    ]
    compressed = coco_mask.frPyObjects(uncompressed, height, width)
    return [
        {"size": [height, width], "counts": rle["counts"].decode("ascii")} for rle in compressed
    ]


def crop_to_rle(mask: np.ndarray, origin: tuple[int, int], size: tuple[int, int]) -> dict[str, Any]:
    """Compressed COCO RLE of one crop; see `crops_to_rle`."""
    return crops_to_rle([mask], np.array([origin]), size)[0]
