"""Instances found in overlapping windows merged into one set for the mosaic.

An object on a window seam is detected once per window that sees it, often as
a cut-off piece. Which pieces meet is decided in the strip their windows share
(`rcm.stitch._seams`); here they are grouped, united or suppressed, and put in
a canonical order.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Literal

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from rcm.stitch._instances import Instances
from rcm.stitch._seams import OverlapMetric, seam_pairs

MergeMethod = Literal["nms", "nmm"]


def canonical_order(instances: Instances) -> np.ndarray:
    """Indices sorting `instances` by score (highest first), then x0, y0, x1, y1, label.

    Window, mask origin, mask shape and finally mask pixels break remaining ties,
    so the order (and anything built on it) does not depend on the order the
    instances came in.
    """
    boxes = instances.boxes
    keys = [instances.labels, boxes[:, 3], boxes[:, 2], boxes[:, 1], boxes[:, 0]]
    keys.append(-instances.scores)
    if instances.windows is not None:
        keys = [*instances.windows.T[::-1], *keys]
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


def merge_instances(
    instances: Instances,
    *,
    method: MergeMethod = "nmm",
    metric: OverlapMetric = "auto",
    threshold: float = 0.5,
    class_aware: bool = True,
) -> Instances:
    """One instance per object from instances of overlapping windows.

    Only instances of different windows match: two match when their parts inside
    the strip their windows share overlap by at least `threshold` (`metric`) and,
    with `class_aware`, they share a label (see `rcm.stitch._seams`). What a
    model returned for one window is never merged within that window.

    Args:
        instances: All windows' instances, in one frame (normally the mosaic's),
            each with its window (`Instances.with_window`).
        method: ``"nmm"``: non-maximum merging; every connected group of matches
            becomes one instance with the union of the masks and of the boxes,
            the highest score of its members and the label of that best member,
            so an object cut by any number of windows (a corner of four too)
            comes out whole. Matches chain: two instances of one window both
            matching a third become one. ``"nms"``: greedy non-maximum
            suppression; best first, a kept instance suppresses every later one
            matching it; kept instances are returned unchanged.
        metric: How the parts inside the strip are compared: ``"iou"``
            (intersection over union, the rule a detector's own NMS uses) or
            ``"ios"`` (intersection over the smaller part: it also joins a small
            detection lying inside a larger one of the other window).
            ``"auto"``: IoU of mask pixels; IoS of boxes, since a box clipped to
            the strip only bounds the object's part there.
        threshold: Overlap needed for a match, in (0, 1].
        class_aware: Only instances with the same label match.

    Returns:
        The merged instances, without windows, sorted by `canonical_order` and
        independent of the input order.

    Raises:
        ValueError: For an unknown method or metric, a threshold outside (0, 1],
            or instances that do not know their windows.

    """
    if method not in ("nms", "nmm"):
        raise ValueError(f"method must be 'nms' or 'nmm', got {method!r}")
    if metric not in ("auto", "iou", "ios"):
        raise ValueError(f"metric must be 'auto', 'iou' or 'ios', got {metric!r}")
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")
    if not len(instances):
        return replace(instances, windows=None)
    ordered = instances.select(canonical_order(instances))
    first, second = seam_pairs(ordered, metric, threshold, class_aware)
    if method == "nms":
        return replace(ordered.select(_suppress(len(ordered), first, second)), windows=None)
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
