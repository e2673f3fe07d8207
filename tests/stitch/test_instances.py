from __future__ import annotations

import json
from typing import Any

import numpy as np
import pycocotools.mask as coco_mask
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from rcm.stitch._instances import Instances
from rcm.stitch._rle import crop_to_rle, crops_runs, crops_to_rle


def make(*args: Any, **kwargs: Any) -> Instances:
    """`Instances` from lists too (converted on construction; the fields are typed as arrays)."""
    return Instances(*args, **kwargs)


def two_with_masks(frame: Any = "window") -> Instances:
    return make(
        [[1, 2, 4, 5], [0, 0, 2, 1]],
        [0.9, 0.4],
        [1, 0],
        frame,
        (np.ones((3, 3), bool), np.array([[True, False]])),
        [[2, 1], [0, 0]],
    )


def paint(mask: np.ndarray, origin: tuple[int, int], size: tuple[int, int]) -> np.ndarray:
    full = np.zeros(size, np.uint8)
    top, left = origin
    full[top : top + mask.shape[0], left : left + mask.shape[1]] = mask
    return full


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"boxes": [[0, 0, 1]]}, r"boxes must have shape \(n, 4\)"),
        ({"boxes": [[2, 0, 1, 1]]}, "x1 >= x0"),
        ({"boxes": [[0, 2, 1, 1]]}, "y1 >= y0"),
        ({"boxes": [[0, 0, np.nan, 1]]}, "finite"),
        ({"scores": [0.5, 0.5]}, r"scores must have shape \(1,\)"),
        ({"scores": [1.5]}, r"scores must lie in \[0, 1\]"),
        ({"labels": []}, r"labels must have shape \(1,\)"),
        ({"labels": [1.5]}, "labels must hold integers"),
        ({"labels": [-1]}, "non-negative"),
        ({"frame": "tile"}, "frame must be one of"),
        ({"masks": (np.ones((2, 2), np.uint8),)}, "mask 0 must be a 2-D bool array"),
        ({"masks": (np.ones(2, bool),)}, "mask 0 must be a 2-D bool array"),
        ({"masks": ()}, "0 masks for 1 instances"),
        ({"masks": (np.ones((1, 1), bool),), "mask_origins": [[0, 0, 0]]}, "mask_origins"),
        ({"masks": (np.ones((1, 1), bool),)}, r"mask_origins must have shape \(1, 2\)"),
        ({"mask_origins": [[0, 0]]}, "mask_origins given without masks"),
        ({"windows": [[0, 0, 8]]}, r"windows must have shape \(1, 4\)"),
        ({"windows": [[0, 0, 8.5, 8]]}, "windows must hold integers"),
        ({"windows": [[0, 0, 0, 8]]}, "x1 > x0"),
        ({"windows": [[0, 5, 8, 5]]}, "y1 > y0"),
    ],
)
def test_invalid_instances_are_refused(kwargs: dict[str, Any], message: str) -> None:
    arguments = {"boxes": [[0, 0, 1, 1]], "scores": [0.5], "labels": [0], "frame": "window"}
    with pytest.raises(ValueError, match=message):
        make(**{**arguments, **kwargs})


def test_lists_become_typed_arrays() -> None:
    instances = two_with_masks()
    assert instances.boxes.dtype == np.float64 and instances.boxes.shape == (2, 4)
    assert instances.scores.dtype == np.float64
    assert instances.labels.dtype == np.int64
    assert instances.mask_origins.dtype == np.int64 and instances.mask_origins.shape == (2, 2)
    assert len(instances) == 2
    np.testing.assert_array_equal(instances.areas, [9, 1])
    boxes_only = make([[0, 0, 2, 3]], [1.0], [0], "mosaic")
    np.testing.assert_array_equal(boxes_only.areas, [6.0])
    assert boxes_only.mask_origins.shape == (0, 2)


def test_empty() -> None:
    empty = Instances.empty("mosaic", with_masks=True)
    assert len(empty) == 0 and empty.masks == () and empty.frame == "mosaic"
    assert empty.boxes.shape == (0, 4) and empty.mask_origins.shape == (0, 2)
    assert Instances.empty("window").masks is None


def test_to_mosaic_shifts_boxes_and_mask_origins_once() -> None:
    window = two_with_masks()
    mosaic = window.to_mosaic(y0=100, x0=30)
    assert mosaic.frame == "mosaic"
    np.testing.assert_array_equal(mosaic.boxes, [[31, 102, 34, 105], [30, 100, 32, 101]])
    np.testing.assert_array_equal(mosaic.mask_origins, [[102, 31], [100, 30]])
    assert mosaic.masks is not None and window.masks is not None
    assert all(a is b for a, b in zip(mosaic.masks, window.masks, strict=True))  # not copied
    with pytest.raises(ValueError, match="already in mosaic pixels"):
        mosaic.to_mosaic(0, 0)


def test_select_keeps_the_given_order() -> None:
    instances = two_with_masks()
    swapped = instances.select([1, 0])
    np.testing.assert_array_equal(swapped.scores, [0.4, 0.9])
    assert swapped.masks is not None and instances.masks is not None
    assert swapped.masks[0] is instances.masks[1]
    np.testing.assert_array_equal(swapped.mask_origins, instances.mask_origins[::-1])
    second = instances.select(np.array([False, True]))
    assert len(second) == 1 and second.labels[0] == 0
    assert len(instances.select([])) == 0
    with pytest.raises(ValueError, match="bool selection"):
        instances.select([True])


def test_concatenate() -> None:
    a, b = two_with_masks(), two_with_masks().select([0])
    both = Instances.concatenate([a, b])
    assert len(both) == 3 and both.masks is not None and b.masks is not None
    assert both.masks[2] is b.masks[0]
    np.testing.assert_array_equal(both.mask_origins, [[2, 1], [0, 0], [2, 1]])
    np.testing.assert_array_equal(both.scores, [0.9, 0.4, 0.9])
    with pytest.raises(ValueError, match="different frames"):
        Instances.concatenate([a, two_with_masks("mosaic")])
    with pytest.raises(ValueError, match="with and without masks"):
        Instances.concatenate([a, make([[0, 0, 1, 1]], [0.5], [0], "window")])
    with pytest.raises(ValueError, match="nothing to concatenate"):
        Instances.concatenate([])


def test_from_dense_masks_crops_to_the_true_pixels() -> None:
    dense = np.zeros((3, 10, 12), bool)
    dense[0, 2:5, 3:9] = True
    dense[0, 6, 10] = True  # a second blob widens the crop
    dense[1, 9, 11] = True  # the bottom-right pixel
    boxes = np.array([[3, 2, 11, 7], [11, 9, 12, 10], [4.7, 5.2, 8, 8]])
    instances = Instances.from_dense_masks(boxes, [0.9, 0.8, 0.7], [0, 1, 2], dense, "window")
    assert instances.masks is not None
    np.testing.assert_array_equal(instances.mask_origins, [[2, 3], [9, 11], [5, 4]])
    assert instances.masks[0].shape == (5, 8) and instances.masks[1].shape == (1, 1)
    assert instances.masks[2].shape == (0, 0)  # empty mask: kept, 0 x 0 at its box corner
    for mask, origin, full in zip(instances.masks, instances.mask_origins, dense, strict=True):
        np.testing.assert_array_equal(paint(mask, tuple(origin), (10, 12)), full)
        assert mask.base is None or mask.base is not dense  # no view into the dense stack
    np.testing.assert_array_equal(instances.areas, [19, 1, 0])
    assert len(instances.select(instances.areas > 0)) == 2
    boxes_only = Instances.from_dense_masks(boxes, [0.9, 0.8, 0.7], [0, 1, 2], None, "window")
    assert boxes_only.masks is None
    with pytest.raises(ValueError, match="bool array"):
        Instances.from_dense_masks(boxes, [0.9, 0.8, 0.7], [0, 1, 2], dense * 1.0, "window")


def test_clip_crops_boxes_and_masks_and_drops_what_is_left_empty() -> None:
    instances = make(
        [[-2, -1, 3, 2], [8, 8, 12, 12], [20, 0, 25, 3]],
        [0.9, 0.8, 0.7],
        [0, 0, 0],
        "mosaic",
        (np.ones((3, 5), bool), np.eye(4, dtype=bool), np.ones((3, 5), bool)),
        [[-1, -2], [8, 8], [0, 20]],
    )
    clipped = instances.clip(10, 10)
    assert len(clipped) == 2 and clipped.masks is not None
    np.testing.assert_array_equal(clipped.boxes, [[0, 0, 3, 2], [8, 8, 10, 10]])
    np.testing.assert_array_equal(clipped.mask_origins, [[0, 0], [8, 8]])
    np.testing.assert_array_equal(clipped.masks[0], np.ones((2, 3), bool))
    np.testing.assert_array_equal(clipped.masks[1], np.eye(2, dtype=bool))
    boxes_only = make(instances.boxes, instances.scores, instances.labels, "mosaic")
    assert len(boxes_only.clip(10, 10)) == 2


@settings(max_examples=300)
@given(st.data())
def test_crop_rle_equals_pycocotools_on_the_full_image(data: st.DataObject) -> None:
    height, width = data.draw(st.integers(1, 24)), data.draw(st.integers(1, 24))
    rows, cols = data.draw(st.integers(0, height)), data.draw(st.integers(0, width))
    top, left = data.draw(st.integers(0, height - rows)), data.draw(st.integers(0, width - cols))
    fill = data.draw(st.sampled_from(["random", "empty", "full"]))
    if fill == "random":
        mask = data.draw(arrays(bool, (rows, cols)))
    else:
        mask = np.full((rows, cols), fill == "full")
    full = paint(mask, (top, left), (height, width))
    expected = coco_mask.encode(np.asfortranarray(full))
    rle = crop_to_rle(mask, (top, left), (height, width))
    assert rle == {"size": [height, width], "counts": expected["counts"].decode("ascii")}


def test_crop_rle_of_a_mosaic_sized_image_and_outside_crops() -> None:
    size = 30_000
    rle = crop_to_rle(np.ones((2, 2), bool), (size - 2, size - 2), (size, size))
    # The bottom-right 2 x 2 pixels, counted column-major, without a 30k x 30k array.
    runs = [(size - 2) * size + size - 2, 2, size - 2, 2]
    expected = coco_mask.frPyObjects({"size": [size, size], "counts": runs}, size, size)
    assert rle == {"size": [size, size], "counts": expected["counts"].decode("ascii")}
    assert crops_runs([np.ones((2, 2), bool)], np.array([[size - 2] * 2]), (size, size)) == [runs]
    with pytest.raises(ValueError, match="does not fit"):
        crop_to_rle(np.ones((2, 2), bool), (size - 1, 0), (size, size))
    with pytest.raises(ValueError, match="does not fit"):
        crop_to_rle(np.ones((2, 2), bool), (0, -1), (size, size))


@settings(max_examples=100)
@given(st.data())
def test_many_crops_at_once_equal_pycocotools(data: st.DataObject) -> None:
    height, width = data.draw(st.integers(1, 12)), data.draw(st.integers(1, 12))
    masks, origins, expected = [], [], []
    for _ in range(data.draw(st.integers(0, 6))):
        rows, cols = data.draw(st.integers(0, height)), data.draw(st.integers(0, width))
        top = data.draw(st.integers(0, height - rows))
        left = data.draw(st.integers(0, width - cols))
        mask = data.draw(arrays(bool, (rows, cols)))
        masks.append(mask)
        origins.append((top, left))
        full = paint(mask, (top, left), (height, width))
        expected.append(coco_mask.encode(np.asfortranarray(full))["counts"].decode("ascii"))
    rles = crops_to_rle(masks, np.array(origins).reshape(-1, 2), (height, width))
    assert [rle["counts"] for rle in rles] == expected


def test_to_coco() -> None:
    instances = two_with_masks().to_mosaic(3, 4)
    entries = instances.to_coco((12, 10), category_ids=[7, 9], image_id=5)
    first, second = entries
    assert first["image_id"] == 5 and first["category_id"] == 9 and second["category_id"] == 7
    assert first["bbox"] == [5.0, 5.0, 3.0, 3.0] and first["score"] == 0.9
    assert first["area"] == 9 and second["area"] == 1
    for entry, mask, origin in zip(
        entries, instances.masks or (), instances.mask_origins, strict=True
    ):
        expected = coco_mask.encode(np.asfortranarray(paint(mask, tuple(origin), (12, 10))))
        assert entry["segmentation"]["counts"] == expected["counts"].decode("ascii")
        assert entry["segmentation"]["size"] == [12, 10]
    text = json.dumps(entries)
    assert json.dumps(instances.to_coco((12, 10), [7, 9], image_id=5)) == text
    boxes_only = make([[0.123, 1, 2.5, 3.333]], [0.1234567], [0], "mosaic")
    (entry,) = boxes_only.to_coco((5, 5), [1])
    assert entry == {"category_id": 1, "bbox": [0.12, 1.0, 2.38, 2.33], "score": 0.123457}


def test_to_coco_refuses_window_pixels_missing_categories_and_outside_masks() -> None:
    with pytest.raises(ValueError, match="mosaic pixels"):
        two_with_masks().to_coco((10, 10), [1, 2])
    mosaic = two_with_masks("mosaic")
    with pytest.raises(ValueError, match="no category id"):
        mosaic.to_coco((10, 10), [1])
    with pytest.raises(ValueError, match="clip"):
        mosaic.to_coco((4, 4), [1, 2])
    assert len(mosaic.clip(4, 4).to_coco((4, 4), [1, 2])) == 2


def test_windows_travel_with_their_instances() -> None:
    window = two_with_masks().with_window((0, 0, 8, 6))
    assert window.windows is not None and window.windows.dtype == np.int64
    np.testing.assert_array_equal(window.windows, [[0, 0, 8, 6]] * 2)
    assert two_with_masks().windows is None
    mosaic = window.to_mosaic(y0=100, x0=30)
    np.testing.assert_array_equal(mosaic.windows, [[30, 100, 38, 106]] * 2)
    other = two_with_masks("mosaic").with_window((1, 2, 3, 4)).select([1])
    both = Instances.concatenate([mosaic, other])
    np.testing.assert_array_equal(both.windows, [[30, 100, 38, 106]] * 2 + [[1, 2, 3, 4]])
    np.testing.assert_array_equal(both.select([2, 0]).windows, [[1, 2, 3, 4], [30, 100, 38, 106]])
    np.testing.assert_array_equal(both.clip(101, 40).windows, [[30, 100, 38, 106], [1, 2, 3, 4]])
    with pytest.raises(ValueError, match="with and without windows"):
        Instances.concatenate([mosaic, two_with_masks("mosaic")])
    assert Instances.empty("mosaic").with_window((0, 0, 1, 1)).windows.shape == (0, 4)
