from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage

from rcm.stitch._instances import Instances
from rcm.stitch._merge import merge_instances
from rcm.tiling import TileGrid

HEIGHT, WIDTH = 130, 150
# Windows overlap by 16 px and objects are at most 15 px, so some window sees each whole.
GRID = TileGrid(HEIGHT, WIDTH, tile=48, stride=32, edge="shift")


def make(*args: Any, **kwargs: Any) -> Instances:
    """`Instances` from lists too (converted on construction; the fields are typed as arrays)."""
    return Instances(*args, **kwargs)


def scene(seed: int) -> tuple[np.ndarray, dict[int, int]]:
    """Objects (rectangles and ellipses) centred on window edges and corners.

    Returns an image of object ids (0: background) and each id's class.
    """
    rng = np.random.default_rng(seed)
    ys = np.unique(np.concatenate([GRID.row_starts[1:], GRID.row_starts + GRID.tile]))
    xs = np.unique(np.concatenate([GRID.col_starts[1:], GRID.col_starts + GRID.tile]))
    ys, xs = ys[ys < HEIGHT], xs[xs < WIDTH]
    corners = [(y, x) for y in ys for x in xs]
    edges = [(y, int(rng.integers(8, WIDTH - 8))) for y in ys]
    edges += [(int(rng.integers(8, HEIGHT - 8)), x) for x in xs]
    candidates = corners + edges
    ids = np.zeros((HEIGHT, WIDTH), np.int32)
    taken = np.zeros((HEIGHT, WIDTH), bool)
    classes: dict[int, int] = {}
    for index in rng.permutation(len(candidates)):
        cy, cx = candidates[index]
        h, w = (int(v) for v in rng.integers(3, 16, 2))
        top = int(np.clip(cy - h // 2 + rng.integers(-2, 3), 0, HEIGHT - h))
        left = int(np.clip(cx - w // 2 + rng.integers(-2, 3), 0, WIDTH - w))
        # A margin keeps the boxes of different objects apart.
        if taken[max(top - 1, 0) : top + h + 1, max(left - 1, 0) : left + w + 1].any():
            continue
        yy, xx = np.mgrid[0:h, 0:w]
        shape = np.ones((h, w), bool)
        if rng.random() < 0.5:
            shape = ((yy - (h - 1) / 2) / (h / 2)) ** 2 + ((xx - (w - 1) / 2) / (w / 2)) ** 2 <= 1
        object_id = len(classes) + 1
        ids[top : top + h, left : left + w][shape] = object_id
        taken[top : top + h, left : left + w] = True
        classes[object_id] = int(rng.integers(0, 3))
    return ids, classes


def detect(ids: np.ndarray, classes: dict[int, int], seed: int) -> Instances:
    """A fake detector: every connected piece of an object inside a window, in mosaic pixels."""
    rng = np.random.default_rng(seed)
    parts = []
    for y0, x0, y1, x1 in GRID.windows():
        crop = ids[y0:y1, x0:x1]
        boxes, labels, masks = [], [], []
        for object_id in np.unique(crop[crop > 0]):
            pieces, _ = ndimage.label(crop == object_id)
            for piece, (rows, cols) in enumerate(ndimage.find_objects(pieces), start=1):
                boxes.append([cols.start, rows.start, cols.stop, rows.stop])
                labels.append(classes[int(object_id)])
                masks.append(pieces == piece)
        dense = np.array(masks, bool).reshape(-1, *crop.shape)
        scores = rng.uniform(0.2, 1.0, len(boxes))
        window = Instances.from_dense_masks(boxes, scores, labels, dense, "window")
        parts.append(window.to_mosaic(int(y0), int(x0)))
    return Instances.concatenate(parts)


def assert_same(a: Instances, b: Instances) -> None:
    np.testing.assert_array_equal(a.boxes, b.boxes)
    np.testing.assert_array_equal(a.scores, b.scores)
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.mask_origins, b.mask_origins)
    assert a.masks is not None and b.masks is not None and len(a.masks) == len(b.masks)
    for mask_a, mask_b in zip(a.masks, b.masks, strict=True):
        np.testing.assert_array_equal(mask_a, mask_b)


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 2**32 - 1), st.data())
def test_objects_cut_by_window_edges_and_corners_come_out_whole_once(
    seed: int, data: st.DataObject
) -> None:
    ids, classes = scene(seed)
    found = detect(ids, classes, seed)
    assert len(found) > 2 * len(classes)  # most objects are seen in several windows
    merged = merge_instances(found, method="nmm", metric="ios")
    assert len(merged) == len(classes) and merged.masks is not None
    claimed = set()
    for box, score, label, mask, (top, left) in zip(
        merged.boxes, merged.scores, merged.labels, merged.masks, merged.mask_origins, strict=True
    ):
        object_id = int(ids[top : top + mask.shape[0], left : left + mask.shape[1]][mask][0])
        claimed.add(object_id)
        rows, cols = np.nonzero(ids == object_id)
        np.testing.assert_array_equal(box, [cols.min(), rows.min(), cols.max() + 1, rows.max() + 1])
        painted = np.zeros_like(ids, dtype=bool)
        painted[top : top + mask.shape[0], left : left + mask.shape[1]] = mask
        np.testing.assert_array_equal(painted, ids == object_id)
        assert label == classes[object_id]
        pieces = (found.boxes[:, :2] >= box[:2]).all(axis=1) & (found.boxes[:, 2:] <= box[2:]).all(
            axis=1
        )
        assert score == found.scores[pieces].max()
    assert claimed == set(classes)
    shuffled = found.select(data.draw(st.permutations(range(len(found)))))
    assert_same(merge_instances(shuffled, method="nmm", metric="ios"), merged)
    assert_same(merge_instances(found, method="nmm", metric="ios"), merged)
    kept = merge_instances(found, method="nms", metric="ios")
    assert_same(merge_instances(shuffled, method="nms", metric="ios"), kept)


def boxes_only(boxes: Any, scores: Any, labels: Any = None) -> Instances:
    labels = [0] * len(scores) if labels is None else labels
    return make(boxes, scores, labels, "mosaic")


def test_nms_collapses_duplicates_to_the_best_unchanged() -> None:
    found = boxes_only(
        [[10, 10, 20, 20], [10.5, 10, 20, 20.5], [10, 10, 20, 20], [40, 40, 50, 50]],
        [0.7, 0.9, 0.8, 0.5],
    )
    for metric in ("iou", "ios"):
        kept = merge_instances(found, method="nms", metric=metric)
        np.testing.assert_array_equal(kept.boxes, [[10.5, 10, 20, 20.5], [40, 40, 50, 50]])
        np.testing.assert_array_equal(kept.scores, [0.9, 0.5])


def test_nms_is_greedy_and_nmm_chains() -> None:
    # a overlaps b, b overlaps c, a and c do not touch: IoU(a, b) = IoU(b, c) = 1/3.
    found = boxes_only(
        [[10, 0, 20, 10], [5, 0, 15, 10], [0, 0, 10, 10]], [0.7, 0.8, 0.9], [1, 2, 1]
    )
    kept = merge_instances(found, method="nms", metric="iou", threshold=0.3, class_aware=False)
    np.testing.assert_array_equal(kept.scores, [0.9, 0.7])  # b is suppressed; c survives
    merged = merge_instances(found, method="nmm", metric="iou", threshold=0.3, class_aware=False)
    np.testing.assert_array_equal(merged.boxes, [[0, 0, 20, 10]])
    assert merged.scores[0] == 0.9 and merged.labels[0] == 1


def test_class_aware_keeps_overlapping_objects_of_different_labels() -> None:
    found = boxes_only([[0, 0, 10, 10], [1, 1, 10, 10]], [0.9, 0.8], [0, 1])
    for method in ("nms", "nmm"):
        assert len(merge_instances(found, method=method)) == 2
        one = merge_instances(found, method=method, class_aware=False)
        assert len(one) == 1 and one.labels[0] == 0


def test_iou_and_ios_differ_on_nested_boxes() -> None:
    found = boxes_only([[0, 0, 10, 10], [2, 2, 6, 6]], [0.6, 0.9])  # IoU 0.16, IoS 1
    assert len(merge_instances(found, method="nms", metric="iou")) == 2
    kept = merge_instances(found, method="nms", metric="ios")
    np.testing.assert_array_equal(kept.boxes, [[2, 2, 6, 6]])
    merged = merge_instances(found, method="nmm", metric="ios")
    np.testing.assert_array_equal(merged.boxes, [[0, 0, 10, 10]])
    assert merged.scores[0] == 0.9


def test_nmm_unites_masks_and_nms_keeps_them() -> None:
    found = make(
        [[0, 0, 3, 2], [2, 0, 4, 3]],
        [0.5, 0.8],
        [0, 0],
        "mosaic",
        (np.ones((2, 3), bool), np.array([[1, 1], [0, 1], [0, 1]], bool)),
        [[0, 0], [0, 2]],
    )
    merged = merge_instances(found, method="nmm", metric="ios", threshold=0.3)
    assert merged.masks is not None and len(merged) == 1
    np.testing.assert_array_equal(merged.boxes, [[0, 0, 4, 3]])
    np.testing.assert_array_equal(merged.mask_origins, [[0, 0]])
    np.testing.assert_array_equal(merged.masks[0], [[1, 1, 1, 1], [1, 1, 1, 1], [0, 0, 0, 1]])
    kept = merge_instances(found, method="nms", metric="ios", threshold=0.3)
    assert kept.masks is not None and found.masks is not None
    assert len(kept) == 1 and kept.masks[0] is found.masks[1]


def test_empty_and_untouched_inputs() -> None:
    for with_masks in (False, True):
        empty = Instances.empty("mosaic", with_masks)
        for method in ("nms", "nmm"):
            out = merge_instances(empty, method=method)
            assert len(out) == 0 and out.has_masks == with_masks
    apart = boxes_only([[0, 0, 1, 1], [1, 0, 2, 1], [5, 5, 5, 9]], [0.2, 0.3, 0.4])
    merged = merge_instances(apart)  # touching edges and an empty box match nothing
    np.testing.assert_array_equal(merged.boxes, apart.boxes[::-1])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"method": "wbf"}, "method"),
        ({"metric": "dice"}, "metric"),
        ({"threshold": 0.0}, "threshold"),
        ({"threshold": 1.5}, "threshold"),
    ],
)
def test_bad_arguments_are_refused(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        merge_instances(boxes_only([[0, 0, 1, 1]], [0.5]), **kwargs)


@given(st.permutations(range(3)))
def test_ties_in_everything_but_mask_pixels_do_not_depend_on_input_order(
    order: list[int],
) -> None:
    masks = (np.eye(2, dtype=bool), np.ones((2, 2), bool), ~np.eye(2, dtype=bool))
    found = make([[0, 0, 2, 2]] * 3, [0.5] * 3, [0] * 3, "mosaic", masks, [[0, 0]] * 3)
    kept = merge_instances(found.select(order), method="nms")
    assert kept.masks is not None and len(kept) == 1
    np.testing.assert_array_equal(kept.masks[0], ~np.eye(2, dtype=bool))  # bytes order last
