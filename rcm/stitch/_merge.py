"""Instances found in overlapping windows merged into one set for the mosaic.

An object on a window seam is detected once per window that sees it, often as
a cut-off piece. Overlap is measured between boxes; candidate pairs come from an
R-tree, so the cost grows with the number of overlapping pairs, not ``n**2``.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from rcm.stitch._instances import Instances

MergeMethod = Literal["nms", "nmm"]
OverlapMetric = Literal["iou", "ios"]


def canonical_order(instances: Instances) -> np.ndarray:
    """Indices sorting `instances` by score (highest first), then x0, y0, x1, y1, label.

    Mask origin, mask shape and finally mask pixels break remaining ties, so the
    order (and anything built on it) does not depend on the order the instances
    came in.
    """
    boxes = instances.boxes
    keys = [instances.labels, boxes[:, 3], boxes[:, 2], boxes[:, 1], boxes[:, 0]]
    keys.append(-instances.scores)
    if instances.masks is None:
        return np.lexsort(keys)  # the last key sorts first
    masks = instances.masks
    shapes = _mask_shapes(masks)
    origins = instances.mask_origins
    keys = [shapes[:, 1], shapes[:, 0], origins[:, 1], origins[:, 0], *keys]
    order = np.lexsort(keys)
    sorted_keys = np.stack([key[order] for key in keys], axis=1)
    tied = (sorted_keys[1:] == sorted_keys[:-1]).all(axis=1)
    if tied.any():
        # Rare: equal in everything but mask pixels; compare those only here.
        run_starts = np.flatnonzero(np.diff(tied.astype(np.int8), prepend=0) == 1)
        run_ends = np.flatnonzero(np.diff(tied.astype(np.int8), append=0) == -1) + 2
        for start, end in zip(run_starts.tolist(), run_ends.tolist(), strict=True):
            run = order[start:end].tolist()
            order[start:end] = sorted(run, key=lambda i: masks[i].tobytes())
    return order


def _mask_shapes(masks: tuple[np.ndarray, ...]) -> np.ndarray:
    return np.array([mask.shape for mask in masks], np.int64).reshape(-1, 2)


def box_overlap(a: np.ndarray, b: np.ndarray, metric: OverlapMetric) -> np.ndarray:
    """Row-wise overlap of boxes ``a[k]`` and ``b[k]`` (both ``(m, 4)``); 0 for empty boxes.

    ``"iou"``: intersection over union. ``"ios"``: intersection over the smaller
    box's area, 1 when one box lies inside the other.
    """
    width = np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0])
    height = np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1])
    inter = width.clip(0) * height.clip(0)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    smaller = np.minimum(area_a, area_b)
    denominator = area_a + area_b - inter if metric == "iou" else smaller
    return np.divide(inter, denominator, out=np.zeros_like(inter), where=denominator > 0)


def matching_pairs(
    instances: Instances, metric: OverlapMetric, threshold: float, class_aware: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Pairs ``(i, j)``, ``i < j``, whose boxes overlap by at least `threshold`.

    With `class_aware`, only pairs with the same label match.
    """
    boxes = instances.boxes
    geometries = shapely.box(boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3])
    # Without a predicate the tree returns pairs whose envelopes meet; a box is its
    # own envelope, so that is "intersects" without the exact geometry test.
    first, second = shapely.STRtree(geometries).query(geometries)
    keep = first < second
    if class_aware:
        keep &= instances.labels[first] == instances.labels[second]
    first, second = first[keep], second[keep]
    overlap = box_overlap(boxes[first], boxes[second], metric)
    match = overlap >= threshold
    return first[match], second[match]


def merge_instances(
    instances: Instances,
    *,
    method: MergeMethod = "nmm",
    metric: OverlapMetric = "ios",
    threshold: float = 0.5,
    class_aware: bool = True,
) -> Instances:
    """One instance per object from instances of overlapping windows.

    Two instances match when their boxes overlap by at least `threshold`
    (`metric`) and, with `class_aware`, share a label.

    Args:
        instances: All windows' instances, in one frame (normally the mosaic's).
        method: ``"nms"``: greedy non-maximum suppression; best first, a kept
            instance suppresses every later one matching it; kept instances are
            returned unchanged. ``"nmm"``: non-maximum merging; every connected
            group of matches becomes one instance with the union of the boxes
            (and masks), the highest score and the label of the best member, so
            the pieces of an object cut by window edges come out whole.
            Matches chain: a row of touching objects whose boxes overlap enough
            becomes one.
        metric: ``"ios"`` (intersection over the smaller box) recognises a
            cut-off piece inside the whole; ``"iou"`` only near-duplicates.
        threshold: Overlap needed for a match, in (0, 1].
        class_aware: Only instances with the same label match.

    Returns:
        The merged instances sorted by `canonical_order`, independent of the
        input order.

    Raises:
        ValueError: For an unknown method or metric, or a threshold outside (0, 1].

    """
    if method not in ("nms", "nmm"):
        raise ValueError(f"method must be 'nms' or 'nmm', got {method!r}")
    if metric not in ("iou", "ios"):
        raise ValueError(f"metric must be 'iou' or 'ios', got {metric!r}")
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")
    ordered = instances.select(canonical_order(instances))
    first, second = matching_pairs(ordered, metric, threshold, class_aware)
    if method == "nms":
        return ordered.select(_suppress(len(ordered), first, second))
    return _merge_groups(ordered, first, second)


def _suppress(count: int, first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Indices kept by greedy suppression; index order is rank order, ``first < second``."""
    suppressed = np.zeros(count, bool)
    by_first = np.argsort(first, kind="stable")
    first, second = first[by_first], second[by_first]
    leaders, starts = np.unique(first, return_index=True)
    ends = np.append(starts, len(first))[1:]
    for leader, start, end in zip(leaders.tolist(), starts.tolist(), ends.tolist(), strict=True):
        if not suppressed[leader]:
            suppressed[second[start:end]] = True
    return np.flatnonzero(~suppressed)


def _merge_groups(ordered: Instances, first: np.ndarray, second: np.ndarray) -> Instances:
    """Each connected component of the match graph as one instance."""
    count = len(ordered)
    if count == 0:
        return ordered
    graph = coo_matrix((np.ones(len(first), np.int8), (first, second)), shape=(count, count))
    _, component = connected_components(graph, directed=False)
    members = np.argsort(component, kind="stable")  # each group's best member first
    starts = np.flatnonzero(np.diff(component[members], prepend=-1))
    boxes = ordered.boxes[members]
    merged_boxes = np.concatenate(
        [
            np.minimum.reduceat(boxes[:, :2], starts),
            np.maximum.reduceat(boxes[:, 2:], starts),
        ],
        axis=1,
    )
    best = members[starts]
    masks, origins = None, ordered.mask_origins
    if ordered.masks is not None:
        masks, origins = _union_masks(ordered, members, starts)
    merged = Instances(
        merged_boxes, ordered.scores[best], ordered.labels[best], ordered.frame, masks, origins
    )
    return merged.select(canonical_order(merged))


def _union_masks(
    ordered: Instances, members: np.ndarray, starts: np.ndarray
) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    """Per group, the union of its members' masks on a canvas covering them all."""
    assert ordered.masks is not None
    begin = ordered.mask_origins[members]
    end = begin + _mask_shapes(ordered.masks)[members]
    top_left = np.minimum.reduceat(begin, starts)
    bottom_right = np.maximum.reduceat(end, starts)
    group_of = np.repeat(np.arange(len(starts)), np.diff(np.append(starts, len(members))))
    # Member extents relative to their group's canvas, as plain ints for fast slicing.
    first = (begin - top_left[group_of]).tolist()
    last = (end - top_left[group_of]).tolist()
    canvas_shapes = (bottom_right - top_left).tolist()
    bounds = [*starts.tolist(), len(members)]
    member_list = members.tolist()
    masks = []
    for group in range(len(starts)):
        start, stop = bounds[group], bounds[group + 1]
        if stop - start == 1:
            masks.append(ordered.masks[member_list[start]])
            continue
        canvas = np.zeros(canvas_shapes[group], bool)
        for k in range(start, stop):
            (top, left), (bottom, right) = first[k], last[k]
            canvas[top:bottom, left:right] |= ordered.masks[member_list[k]]
        masks.append(canvas)
    return tuple(masks), top_left
