"""Which instances of different windows are one object: they meet in the strip both windows saw.

Two overlapping windows share a strip of pixels that both of them saw. There the
pieces of one object cut by a window edge cover the same pixels, and so do the two
detections of an object lying wholly inside the strip; two objects side by side do
not. So two instances meet when their parts inside the strip (mask pixels, or the
boxes clipped to the strip for box-only models) overlap enough, whatever the
object's size relative to a window. Windows that only abut share no pixel: there
the strip is the line of pixels on each side of the seam, folded onto each other,
so pieces meet when they touch across the seam. Instances of one window never
meet: what a model returned for one window is kept as it is.

Candidate pairs come from an R-tree over the instances' extents, so the cost grows
with the number of neighbouring pairs, not ``n**2``.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import shapely

from rcm.stitch._instances import Instances

OverlapMetric = Literal["auto", "iou", "ios"]


def box_overlap(a: np.ndarray, b: np.ndarray, metric: Literal["iou", "ios"]) -> np.ndarray:
    """Row-wise overlap of boxes ``a[k]`` and ``b[k]`` (both ``(m, 4)``); 0 for empty boxes.

    ``"iou"``: intersection over union. ``"ios"``: intersection over the smaller
    box's area, 1 when one box lies inside the other.
    """
    width = np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0])
    height = np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1])
    inter = width.clip(0) * height.clip(0)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return _ratio(inter, area_a, area_b, metric)


def _ratio(
    inter: np.ndarray, area_a: np.ndarray, area_b: np.ndarray, metric: Literal["iou", "ios"]
) -> np.ndarray:
    denominator = area_a + area_b - inter if metric == "iou" else np.minimum(area_a, area_b)
    return np.divide(inter, denominator, out=np.zeros_like(inter), where=denominator > 0)


def extents(instances: Instances) -> np.ndarray:
    """``(n, 4)`` float64 ``[x0, y0, x1, y1]`` of what decides a match: masks, else boxes."""
    if instances.masks is None:
        return instances.boxes
    shapes = np.array([mask.shape for mask in instances.masks], np.int64).reshape(-1, 2)
    top_left = instances.mask_origins[:, ::-1]
    return np.concatenate([top_left, top_left + shapes[:, ::-1]], axis=1).astype(np.float64)


def seam_pairs(
    instances: Instances, metric: OverlapMetric, threshold: float, class_aware: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Pairs ``(i, j)``, ``i < j``, of instances of different windows that meet in their strip.

    Their parts inside the strip overlap by at least `threshold` (`metric`); with
    `class_aware`, only instances with the same label meet. ``"auto"`` is
    ``"iou"`` for masks, whose pixels in the strip are the object's, and
    ``"ios"`` for boxes: a box clipped to the strip only bounds the object's part
    there, so the piece whose object narrows there lies inside the other.

    Raises:
        ValueError: If the instances do not know their windows.

    """
    if instances.windows is None:
        raise ValueError("merging across seams needs each instance's window (with_window)")
    if metric == "auto":
        metric = "iou" if instances.masks is not None else "ios"
    boxes = extents(instances)
    first, second = _neighbours(instances, boxes, class_aware)
    region_a, region_b, valid = strips(instances.windows[first], instances.windows[second])
    pairs, regions = (first[valid], second[valid]), (region_a[valid], region_b[valid])
    # Windows that only abut compare the lines either side of the seam: pieces of one
    # object touch there even where it narrows to a pixel, so touching is a match.
    abutting = (regions[0] != regions[1]).any(axis=1)
    part_a, part_b = parts_in_strip(boxes[pairs[0]], boxes[pairs[1]], *regions)
    overlap = box_overlap(part_a, part_b, metric)
    if instances.masks is not None:
        # Boxes around the mask parts bound the pixel overlap; count pixels only where they meet.
        near = overlap > 0
        pairs = (pairs[0][near], pairs[1][near])
        regions = (regions[0][near], regions[1][near])
        abutting = abutting[near]
        overlap = _mask_overlap(instances.masks, boxes, pairs, regions, metric)
    match = np.where(abutting, overlap > 0, overlap >= threshold)
    return pairs[0][match], pairs[1][match]


def _neighbours(
    instances: Instances, boxes: np.ndarray, class_aware: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Pairs ``i < j`` of different windows whose extents, grown by a pixel, meet."""
    assert instances.windows is not None
    grown = shapely.box(boxes[:, 0] - 1, boxes[:, 1] - 1, boxes[:, 2] + 1, boxes[:, 3] + 1)
    # Without a predicate the tree returns pairs whose envelopes meet; a box is its
    # own envelope, so that is "intersects" without the exact geometry test.
    first, second = shapely.STRtree(grown).query(grown)
    keep = first < second
    keep &= (instances.windows[first] != instances.windows[second]).any(axis=1)
    if class_aware:
        keep &= instances.labels[first] == instances.labels[second]
    return first[keep], second[keep]


def strips(
    windows_a: np.ndarray, windows_b: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where windows ``a[k]`` and ``b[k]`` (``(m, 4)`` ``[x0, y0, x1, y1]``) compare pieces.

    Returns:
        The region of each side, ``(m, 4)`` int64 and of one shape per pair: the
        windows' common pixels; along an axis where they only abut, the line of
        pixels next to the seam on that side. Also whether the windows overlap
        or abut at all.

    """
    region_a = np.empty_like(windows_a)
    region_b = np.empty_like(windows_b)
    valid = np.ones(len(windows_a), bool)
    for low, high in ((0, 2), (1, 3)):
        start = np.maximum(windows_a[:, low], windows_b[:, low])
        stop = np.minimum(windows_a[:, high], windows_b[:, high])
        valid &= stop >= start
        seam = stop == start
        for windows, region in ((windows_a, region_a), (windows_b, region_b)):
            # On a seam without overlap, the window ending there takes the line before it.
            before = seam & (windows[:, high] == start)
            region[:, low] = np.where(before, start - 1, start)
            region[:, high] = np.where(seam, region[:, low] + 1, stop)
    return region_a, region_b, valid


def parts_in_strip(
    a: np.ndarray, b: np.ndarray, region_a: np.ndarray, region_b: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Boxes `a` and `b` clipped to their regions, both in the frame of `region_a`.

    Along a seam line (a region one pixel thick) a box that reaches into the line
    covers all of it, so only the extent along the seam is compared.
    """
    parts = []
    for boxes, region in ((a, region_a), (b, region_b)):
        clipped = np.concatenate(
            [np.maximum(boxes[:, :2], region[:, :2]), np.minimum(boxes[:, 2:], region[:, 2:])],
            axis=1,
        )
        reaches = clipped[:, 2:] > clipped[:, :2]
        line = (region[:, 2:] - region[:, :2]) == 1
        clipped[:, :2] = np.where(line & reaches, region[:, :2], clipped[:, :2])
        clipped[:, 2:] = np.where(line & reaches, region[:, 2:], clipped[:, 2:])
        clipped[:, 2:] = np.maximum(clipped[:, 2:], clipped[:, :2])
        parts.append(clipped - np.tile(region[:, :2], 2))
    return parts[0], parts[1]


def _mask_overlap(
    masks: tuple[np.ndarray, ...],
    extent: np.ndarray,
    pairs: tuple[np.ndarray, np.ndarray],
    regions: tuple[np.ndarray, np.ndarray],
    metric: Literal["iou", "ios"],
) -> np.ndarray:
    """Overlap of the mask pixels of each pair inside its regions (folded onto each other)."""
    (first, second), (region_a, region_b) = pairs, regions
    boxes = extent.astype(np.int64)
    # Each side's part: its extent clipped to its region, in region coordinates (as the fold).
    part_a, part_b = parts_in_strip(boxes[first], boxes[second], region_a, region_b)
    common = np.concatenate(
        [np.maximum(part_a[:, :2], part_b[:, :2]), np.minimum(part_a[:, 2:], part_b[:, 2:])],
        axis=1,
    )
    # Mask coordinates of the parts and of their common rectangle ([x0, y0, x1, y1]).
    offset_a = np.tile(region_a[:, :2] - boxes[first, :2], 2)
    offset_b = np.tile(region_b[:, :2] - boxes[second, :2], 2)
    rows = zip(
        first.tolist(),
        second.tolist(),
        (part_a + offset_a).tolist(),
        (part_b + offset_b).tolist(),
        (common + offset_a).clip(0).tolist(),  # never a negative index (which counts back)
        (common + offset_b).clip(0).tolist(),
        strict=True,
    )
    counts = np.zeros((len(first), 3))
    for k, (i, j, (ax0, ay0, ax1, ay1), (bx0, by0, bx1, by1), in_a, in_b) in enumerate(rows):
        counts[k, 0] = np.count_nonzero(masks[i][ay0:ay1, ax0:ax1])
        counts[k, 1] = np.count_nonzero(masks[j][by0:by1, bx0:bx1])
        common_a = masks[i][in_a[1] : in_a[3], in_a[0] : in_a[2]]
        common_b = masks[j][in_b[1] : in_b[3], in_b[0] : in_b[2]]
        counts[k, 2] = np.count_nonzero(common_a & common_b)
    return _ratio(counts[:, 2], counts[:, 0], counts[:, 1], metric)
