"""Training targets of one window: lesion instances (boxes, masks) from its class mask.

A window's class mask (0 = no lesion, 1..255 = lesion class) becomes one
instance per connected component of each class. Components smaller than
``min_area`` pixels are dropped: they are specks where a lesion barely touches
the window edge, and a detector cannot learn a lesion from them (the class
mask, which segmenters train on, keeps them). Boxes are tight and in window
pixels, ``[x0, y0, x1, y1]`` with the maximum exclusive (torchvision and COCO
corners): a one-pixel object at column 5, row 7 is ``[5, 7, 6, 8]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy import ndimage

DEFAULT_MIN_AREA = 16


@dataclass(frozen=True, eq=False)
class WindowTarget:
    """What a detector or segmenter learns from one window, in window pixels.

    Instances are ordered by class, then by the top, then the left edge of their box.

    Attributes:
        boxes: ``(n, 4)`` float32 ``[x0, y0, x1, y1]``, maximum exclusive.
        labels: ``(n,)`` int64 category ids, at least 1 (0 is background).
        masks: ``(n, h, w)`` bool, one per instance.
        classes: ``(h, w)`` uint8 class mask (0 = no lesion), for segmenters.

    """

    boxes: np.ndarray
    labels: np.ndarray
    masks: np.ndarray
    classes: np.ndarray

    def __post_init__(self) -> None:
        _check_array("classes", self.classes, np.uint8, 2)
        _check_array("boxes", self.boxes, np.float32, 2)
        _check_array("labels", self.labels, np.int64, 1)
        _check_array("masks", self.masks, np.bool_, 3)
        n = len(self.labels)
        if self.boxes.shape != (n, 4):
            raise ValueError(f"boxes must have shape ({n}, 4), got {self.boxes.shape}")
        if self.masks.shape != (n, *self.classes.shape):
            raise ValueError(
                f"masks must have shape ({n}, {self.classes.shape[0]}, {self.classes.shape[1]}),"
                f" got {self.masks.shape}"
            )
        if (self.labels < 1).any():
            raise ValueError("labels are category ids and must be at least 1 (0 is background)")

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def shape(self) -> tuple[int, int]:
        """Window ``(height, width)``."""
        return self.classes.shape[0], self.classes.shape[1]

    @classmethod
    def empty(cls, height: int, width: int) -> WindowTarget:
        """A window without lesions."""
        return cls(
            boxes=np.zeros((0, 4), np.float32),
            labels=np.zeros(0, np.int64),
            masks=np.zeros((0, height, width), bool),
            classes=np.zeros((height, width), np.uint8),
        )

    def to_torchvision(self) -> dict[str, torch.Tensor]:
        """The target dict torchvision's Mask/Faster R-CNN train on (masks as uint8)."""
        return {
            "boxes": torch.from_numpy(self.boxes),
            "labels": torch.from_numpy(self.labels),
            "masks": torch.from_numpy(self.masks.view(np.uint8)),
        }


def _check_array(name: str, array: np.ndarray, dtype: type, ndim: int) -> None:
    if not isinstance(array, np.ndarray) or array.dtype != dtype or array.ndim != ndim:
        found = (
            f"{array.dtype} with {array.ndim} dimensions"
            if isinstance(array, np.ndarray)
            else type(array).__name__
        )
        raise ValueError(f"{name} must be a {ndim}-d {np.dtype(dtype)} array, got {found}")


def window_target(
    class_mask: np.ndarray, *, min_area: int = DEFAULT_MIN_AREA, connectivity: int = 2
) -> WindowTarget:
    """Lesion instances of a window: connected components of each class.

    Args:
        class_mask: ``(h, w)`` integer class per pixel, 0 = no lesion, at most 255.
        min_area: Components with fewer pixels are not instances (specks where a
            lesion barely touches the window); they stay in ``classes``.
        connectivity: 1 joins pixels sharing an edge, 2 also diagonal neighbours.

    Raises:
        ValueError: On a mask that is not 2-d integers in [0, 255], or bad options.

    """
    classes = _as_classes(class_mask)
    if connectivity not in (1, 2):
        raise ValueError(f"connectivity must be 1 or 2, got {connectivity}")
    if min_area < 1:
        raise ValueError(f"min_area must be at least 1, got {min_area}")
    structure = ndimage.generate_binary_structure(2, connectivity)
    boxes, labels, masks = [], [], []
    for category in np.unique(classes[classes > 0]):
        components, count = ndimage.label(classes == category, structure=structure)
        areas = np.bincount(components.ravel(), minlength=count + 1)[1:]
        kept = np.flatnonzero(areas >= min_area) + 1
        found = ndimage.find_objects(components)
        boxes.append(_slices_to_boxes([found[i - 1] for i in kept]))
        labels.append(np.full(len(kept), category, np.int64))
        masks.append(components[None] == kept[:, None, None])
    if not labels:
        return WindowTarget.empty(*classes.shape)
    return _sorted_target(
        np.concatenate(boxes), np.concatenate(labels), np.concatenate(masks), classes
    )


def _as_classes(class_mask: np.ndarray) -> np.ndarray:
    mask = np.asarray(class_mask)
    if mask.ndim != 2:
        raise ValueError(f"a class mask must be 2-d, got shape {mask.shape}")
    if not (np.issubdtype(mask.dtype, np.integer) or mask.dtype == np.bool_):
        raise ValueError(f"a class mask must hold integers, got dtype {mask.dtype}")
    if mask.size and (int(mask.min()) < 0 or int(mask.max()) > 255):
        raise ValueError("class mask values must lie in [0, 255]")
    return mask.astype(np.uint8, copy=False)


def _slices_to_boxes(slices: list[tuple[slice, slice]]) -> np.ndarray:
    """``[x0, y0, x1, y1]`` from `ndimage.find_objects` slices (exclusive stops)."""
    corners = [(cols.start, rows.start, cols.stop, rows.stop) for rows, cols in slices]
    return np.array(corners, np.float32).reshape(-1, 4)


def _sorted_target(
    boxes: np.ndarray, labels: np.ndarray, masks: np.ndarray, classes: np.ndarray
) -> WindowTarget:
    """Instances in the documented order: class, box top, box left (ties keep input order)."""
    order = np.lexsort((boxes[:, 0], boxes[:, 1], labels))
    return WindowTarget(
        boxes=np.ascontiguousarray(boxes[order]),
        labels=np.ascontiguousarray(labels[order]),
        masks=np.ascontiguousarray(masks[order]),
        classes=classes,
    )


def flip_rotate(
    image: np.ndarray, target: WindowTarget, *, flip: bool, quarter_turns: int
) -> tuple[np.ndarray, WindowTarget]:
    """Flip left-right (first, if `flip`), then rotate by quarter turns counterclockwise.

    The image, masks and class mask move together and boxes follow exactly, so
    the result equals `window_target` of the transformed class mask. Arrays come
    back contiguous (torch cannot wrap NumPy's negative strides).

    Args:
        image: ``(h, w)`` or ``(h, w, c)`` pixels of the window.
        target: The window's target; its shape must be the image's.
        flip: Mirror columns before rotating.
        quarter_turns: Counterclockwise quarter turns, as `numpy.rot90` (any integer).

    """
    if image.shape[:2] != target.shape:
        raise ValueError(f"image {image.shape[:2]} and target {target.shape} differ in shape")
    boxes = target.boxes.copy()
    masks, classes = target.masks, target.classes
    width = target.shape[1]
    if flip:
        image, masks, classes = image[:, ::-1], masks[:, :, ::-1], classes[:, ::-1]
        boxes[:, [0, 2]] = width - boxes[:, [2, 0]]
    for _ in range(quarter_turns % 4):
        image = np.rot90(image, axes=(0, 1))
        masks, classes = np.rot90(masks, axes=(1, 2)), np.rot90(classes)
        # Pixel (y, x) goes to (width - 1 - x, y): x becomes y, y counts from the right.
        boxes = np.stack(
            [boxes[:, 1], width - boxes[:, 2], boxes[:, 3], width - boxes[:, 0]], axis=1
        )
        width = classes.shape[1]
    return np.ascontiguousarray(image), _sorted_target(
        boxes.astype(np.float32), target.labels, masks, np.ascontiguousarray(classes)
    )


def random_flip_rotate(
    image: np.ndarray, target: WindowTarget, rng: np.random.Generator
) -> tuple[np.ndarray, WindowTarget]:
    """One of the eight flips and rotations of the square, drawn from `rng`."""
    flip = bool(rng.integers(2))
    return flip_rotate(image, target, flip=flip, quarter_turns=int(rng.integers(4)))


__all__ = [
    "DEFAULT_MIN_AREA",
    "WindowTarget",
    "flip_rotate",
    "random_flip_rotate",
    "window_target",
]
