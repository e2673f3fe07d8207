from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from hypothesis import example, given, settings
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


def detect(
    ids: np.ndarray,
    classes: dict[int, int],
    seed: int,
    grid: TileGrid = GRID,
    with_masks: bool = True,
) -> Instances:
    """A fake detector: every connected piece of an object inside a window, in mosaic pixels."""
    rng = np.random.default_rng(seed)
    parts = []
    for y0, x0, y1, x1 in grid.windows().tolist():
        crop = ids[y0:y1, x0:x1]
        boxes, labels, masks = [], [], []
        for object_id in np.unique(crop[crop > 0]):
            pieces, _ = ndimage.label(crop == object_id)
            for piece, (rows, cols) in enumerate(ndimage.find_objects(pieces), start=1):
                boxes.append([cols.start, rows.start, cols.stop, rows.stop])
                labels.append(classes[int(object_id)])
                masks.append(pieces == piece)
        dense = np.array(masks, bool).reshape(-1, *crop.shape) if with_masks else None
        scores = rng.uniform(0.2, 1.0, len(boxes))
        window = Instances.from_dense_masks(boxes, scores, labels, dense, "window")
        parts.append(window.to_mosaic(y0, x0).with_window((x0, y0, x1, y1)))
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
    merged = merge_instances(found, method="nmm")
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
    assert_same(merge_instances(shuffled, method="nmm"), merged)
    assert_same(merge_instances(found, method="nmm"), merged)
    assert_same(merge_instances(found, method="nmm", metric="ios"), merged)
    kept = merge_instances(found, method="nms")
    assert_same(merge_instances(shuffled, method="nms"), kept)


# 128 px windows with 32 px overlap (starts 0, 96, 192, 288), as in rcm infer's defaults.
WIDE = TileGrid(416, 416, tile=128, stride=96)

# Objects as (top, left, height, width), in windows of WIDE.
CASES = {
    "inside one window": [(10, 10, 30, 60)],
    "one window wide across a seam": [(10, 80, 30, 45)],  # the first window holds it whole
    "wholly in the strip, seen whole twice": [(10, 100, 20, 20)],
    "two windows wide": [(50, 60, 30, 105)],  # pieces 68 and 69 px, sharing only the strip
    "three windows wide": [(50, 40, 30, 230)],
    "corner of four windows": [(82, 82, 60, 60)],
    "three by three windows": [(40, 40, 250, 250)],
    "two apart in the strip": [(10, 98, 10, 10), (10, 112, 10, 10)],
    "two apart across a seam": [(60, 60, 20, 105), (82, 60, 20, 105)],
}


def objects_scene(objects: list[tuple[int, int, int, int]], ellipse: bool) -> np.ndarray:
    ids = np.zeros((416, 416), np.int32)
    for number, (top, left, height, width) in enumerate(objects, start=1):
        shape = np.ones((height, width), bool)
        if ellipse:
            yy, xx = np.mgrid[0:height, 0:width]
            cy, cx = (height - 1) / 2, (width - 1) / 2
            shape = ((yy - cy) / (height / 2)) ** 2 + ((xx - cx) / (width / 2)) ** 2 <= 1
        ids[top : top + height, left : left + width][shape] = number
    return ids


def assert_whole(merged: Instances, ids: np.ndarray) -> None:
    """One instance per object of `ids`, with its exact box (and mask)."""
    truth = {}
    for object_id in np.unique(ids[ids > 0]).tolist():
        rows, cols = np.nonzero(ids == object_id)
        truth[(cols.min(), rows.min(), cols.max() + 1, rows.max() + 1)] = object_id
    assert sorted(tuple(box) for box in merged.boxes.tolist()) == sorted(truth)
    for index, box in enumerate(merged.boxes.tolist()):
        if merged.masks is not None:
            mask, (top, left) = merged.masks[index], merged.mask_origins[index]
            painted = np.zeros(ids.shape, bool)
            painted[top : top + mask.shape[0], left : left + mask.shape[1]] = mask
            np.testing.assert_array_equal(painted, ids == truth[tuple(box)])


@pytest.mark.parametrize("with_masks", [True, False], ids=["masks", "boxes"])
@pytest.mark.parametrize("vertical", [False, True], ids=["horizontal", "vertical"])
@pytest.mark.parametrize("case", list(CASES))
def test_objects_one_to_three_windows_wide_come_out_once(
    case: str, vertical: bool, with_masks: bool
) -> None:
    for ellipse in (False, True):
        ids = objects_scene(CASES[case], ellipse)
        ids = ids.T.copy() if vertical else ids
        found = detect(ids, {number: 0 for number in range(1, ids.max() + 1)}, 0, WIDE, with_masks)
        merged = merge_instances(found)
        assert_whole(merged, ids)
        pieces = (found.boxes[:, None, :2] >= merged.boxes[None, :, :2]).all(axis=2)
        pieces &= (found.boxes[:, None, 2:] <= merged.boxes[None, :, 2:]).all(axis=2)
        for group, score in zip(pieces.T, merged.scores, strict=True):
            assert score == found.scores[group].max()  # a joined object scores its best piece
        assert_same_boxes(merge_instances(found.select(np.arange(len(found))[::-1])), merged)


def assert_same_boxes(a: Instances, b: Instances) -> None:
    np.testing.assert_array_equal(a.boxes, b.boxes)
    np.testing.assert_array_equal(a.scores, b.scores)


def piece(window: list[int], boxes: Any, scores: Any, labels: Any = None) -> Instances:
    """Box-only instances of one window ``[x0, y0, x1, y1]``, in mosaic pixels."""
    labels = [0] * len(scores) if labels is None else labels
    return make(boxes, scores, labels, "mosaic").with_window(window)


LEFT, RIGHT = [0, 0, 128, 128], [96, 0, 224, 128]  # sharing the strip x 96..128


def test_what_one_window_returned_is_never_merged() -> None:
    shift = np.arange(100)[:, None] * np.array([0.25, 0, 0.25, 0])
    boxes = np.array([10, 20, 40, 60]) + shift
    crowd = piece(LEFT, boxes, np.linspace(0.99, 0.5, 100))
    for method in ("nmm", "nms"):
        for metric in ("iou", "ios"):
            assert len(merge_instances(crowd, method=method, metric=metric)) == 100
    masks = tuple(np.ones((40, 30), bool) for _ in range(100))
    with_masks = make(boxes, crowd.scores, crowd.labels, "mosaic", masks, [[20, 10]] * 100)
    assert len(merge_instances(with_masks.with_window(LEFT))) == 100


def test_duplicates_of_two_windows_merge_and_neighbours_do_not() -> None:
    found = Instances.concatenate(
        [
            piece(
                LEFT, [[100, 10, 120, 30], [100, 40, 110, 50], [112, 40, 124, 50]], [0.8, 0.7, 0.6]
            ),
            piece(
                RIGHT, [[101, 10, 120, 31], [100, 40, 110, 50], [112, 40, 124, 50]], [0.9, 0.5, 0.4]
            ),
        ]
    )
    merged = merge_instances(found)
    np.testing.assert_array_equal(
        merged.boxes, [[100, 10, 120, 31], [100, 40, 110, 50], [112, 40, 124, 50]]
    )
    np.testing.assert_array_equal(merged.scores, [0.9, 0.7, 0.6])
    assert merged.windows is None  # a joined object belongs to no single window


def test_pieces_compare_inside_the_strip_whatever_their_size() -> None:
    # A 300 px object cut at x = 128 and 96: whole-box IoU 0.07, inside the strip 1.
    found = Instances.concatenate(
        [piece(LEFT, [[0, 10, 128, 40]], [0.6]), piece(RIGHT, [[96, 10, 224, 40]], [0.7])]
    )
    merged = merge_instances(found)
    np.testing.assert_array_equal(merged.boxes, [[0, 10, 224, 40]])
    assert merged.scores.tolist() == [0.7]
    kept = merge_instances(found, method="nms")
    np.testing.assert_array_equal(kept.boxes, [[96, 10, 224, 40]])  # the best piece, unchanged
    apart = piece([0, 0, 90, 128], [[0, 10, 90, 40]], [0.9])  # no strip shared with RIGHT
    assert len(merge_instances(Instances.concatenate([apart, found.select([1])]))) == 2


def test_iou_and_ios_inside_the_strip() -> None:
    # A small detection inside a larger one of the other window (IoU 0.08, IoS 1).
    found = Instances.concatenate(
        [piece(LEFT, [[96, 0, 128, 40]], [0.6]), piece(RIGHT, [[100, 5, 110, 15]], [0.9])]
    )
    assert len(merge_instances(found, metric="iou")) == 2
    for metric in ("ios", "auto"):  # auto: boxes only bound the object, so IoS
        merged = merge_instances(found, metric=metric)
        np.testing.assert_array_equal(merged.boxes, [[96, 0, 128, 40]])
        assert merged.scores.tolist() == [0.9]
    masks = (np.ones((40, 32), bool), np.ones((10, 10), bool))
    with_masks = make(found.boxes, found.scores, [0, 0], "mosaic", masks, [[0, 96], [5, 100]])
    with_masks = replace(with_masks, windows=found.windows)
    assert len(merge_instances(with_masks)) == 2  # auto: masks are the object, so IoU
    assert len(merge_instances(with_masks, metric="ios")) == 1


def test_masks_decide_where_boxes_overlap() -> None:
    # Two L-shaped objects in the strip whose boxes overlap but whose pixels do not.
    first = np.zeros((20, 20), bool)
    first[:4, :] = first[:, :4] = True
    second = first[::-1, ::-1]
    shapes = (first, second)
    boxes, origins = [[98, 10, 118, 30], [106, 18, 126, 38]], [[10, 98], [18, 106]]
    parts = [
        make(boxes, [0.9, 0.8], [0, 0], "mosaic", shapes, origins).with_window(window)
        for window in (LEFT, RIGHT)
    ]
    merged = merge_instances(Instances.concatenate(parts), metric="ios", threshold=0.01)
    assert len(merged) == 2


def test_windows_that_only_abut_join_pieces_touching_across_the_seam() -> None:
    grid = TileGrid(128, 128, tile=64, stride=64)
    ids = np.zeros((128, 128), np.int32)
    ids[10:20, 50:80] = 1  # across x = 64
    ids[30:40, 50:64] = 2  # ends at the seam; 3 starts there, other rows
    ids[45:55, 64:80] = 3
    ids[60:64, 60:64] = 4  # only the corner pixels of 4 and 5 touch
    ids[64:68, 64:68] = 5
    ids[90:120, 90:120] = 6  # the corner of four windows
    for with_masks in (True, False):
        found = detect(ids, dict.fromkeys(range(1, 7), 0), 0, grid, with_masks)
        expected = ids.copy()
        expected[expected == 5] = 4
        assert_whole(merge_instances(found), expected)


def test_class_aware_keeps_pieces_of_different_labels() -> None:
    found = Instances.concatenate(
        [
            piece(LEFT, [[100, 10, 120, 30]], [0.9], [0]),
            piece(RIGHT, [[100, 10, 120, 30]], [0.8], [1]),
        ]
    )
    for method in ("nms", "nmm"):
        assert len(merge_instances(found, method=method)) == 2
        one = merge_instances(found, method=method, class_aware=False)
        assert len(one) == 1 and one.labels[0] == 0


def test_nms_is_greedy_and_nmm_chains() -> None:
    # Two detections of one window, each the same object as one piece of the other.
    found = Instances.concatenate(
        [
            piece(LEFT, [[96, 0, 110, 10], [112, 0, 126, 10]], [0.9, 0.7]),
            piece(RIGHT, [[96, 0, 126, 10]], [0.8]),
        ]
    )
    merged = merge_instances(found, metric="ios")
    np.testing.assert_array_equal(merged.boxes, [[96, 0, 126, 10]])
    kept = merge_instances(found, method="nms", metric="ios")
    np.testing.assert_array_equal(kept.boxes, [[96, 0, 110, 10], [112, 0, 126, 10]])


def test_nmm_unites_masks_and_nms_keeps_them() -> None:
    found = Instances.concatenate(
        [
            make([[96, 0, 128, 2]], [0.5], [0], "mosaic", (np.ones((2, 32), bool),), [[0, 96]]),
            make([[96, 0, 130, 3]], [0.8], [0], "mosaic", (np.ones((3, 34), bool),), [[0, 96]]),
        ]
    )
    found = replace(found, windows=[LEFT, RIGHT])
    merged = merge_instances(found, metric="ios")
    assert merged.masks is not None and len(merged) == 1
    np.testing.assert_array_equal(merged.boxes, [[96, 0, 130, 3]])
    kept = merge_instances(found, method="nms", metric="ios")
    assert kept.masks is not None and found.masks is not None
    assert len(kept) == 1 and kept.masks[0] is found.masks[1]


def test_empty_and_untouched_inputs() -> None:
    for with_masks in (False, True):
        empty = Instances.empty("mosaic", with_masks)
        for method in ("nms", "nmm"):
            out = merge_instances(empty, method=method)
            assert len(out) == 0 and out.has_masks == with_masks
    apart = piece(LEFT, [[0, 0, 1, 1], [1, 0, 2, 1], [5, 5, 5, 9]], [0.2, 0.3, 0.4])
    np.testing.assert_array_equal(merge_instances(apart).boxes, apart.boxes[::-1])


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
        merge_instances(piece(LEFT, [[0, 0, 1, 1]], [0.5]), **kwargs)


def test_instances_without_windows_are_refused() -> None:
    with pytest.raises(ValueError, match="window"):
        merge_instances(make([[0, 0, 1, 1]], [0.5], [0], "mosaic"))


@given(st.permutations(range(3)))
def test_ties_in_everything_but_mask_pixels_do_not_depend_on_input_order(
    order: list[int],
) -> None:
    masks = (np.eye(2, dtype=bool), np.ones((2, 2), bool), ~np.eye(2, dtype=bool))
    found = make([[0, 0, 2, 2]] * 3, [0.5] * 3, [0] * 3, "mosaic", masks, [[0, 0]] * 3)
    kept = merge_instances(found.with_window(LEFT).select(order), method="nms")
    assert kept.masks is not None and len(kept) == 3  # one window's: all kept
    expected = sorted(masks, key=lambda mask: mask.tobytes())
    for mask, want in zip(kept.masks, expected, strict=True):
        np.testing.assert_array_equal(mask, want)


@settings(max_examples=40, deadline=None)
@given(
    st.integers(0, 2**32 - 1),
    st.integers(24, 64),
    st.sampled_from([0.0, 0.1, 0.25, 0.5]),
    st.booleans(),
)
# An object narrowing to one pixel where two windows abut: its pieces touch across the seam.
@example(seed=47, tile=47, overlap=0.0, with_masks=True)
def test_objects_of_any_size_on_any_grid_come_out_whole_once(
    seed: int, tile: int, overlap: float, with_masks: bool
) -> None:
    rng = np.random.default_rng(seed)
    ids = np.zeros((160, 160), np.int32)
    taken = np.zeros_like(ids, dtype=bool)
    for _ in range(6):
        height, width = (int(v) for v in rng.integers(2, 120, 2))
        top, left = int(rng.integers(0, 160 - height)), int(rng.integers(0, 160 - width))
        if taken[max(top - 1, 0) : top + height + 1, max(left - 1, 0) : left + width + 1].any():
            continue  # boxes at least a pixel apart
        yy, xx = np.mgrid[0:height, 0:width]
        shape = np.ones((height, width), bool)
        if rng.random() < 0.5:
            cy, cx = (height - 1) / 2, (width - 1) / 2
            shape = ((yy - cy) / (height / 2)) ** 2 + ((xx - cx) / (width / 2)) ** 2 <= 1
        ids[top : top + height, left : left + width][shape] = ids.max() + 1
        taken[top : top + height, left : left + width] = True
    grid = TileGrid.with_overlap(160, 160, tile, overlap)
    found = detect(ids, dict.fromkeys(range(1, ids.max() + 1), 0), seed, grid, with_masks)
    assert_whole(merge_instances(found), ids)
