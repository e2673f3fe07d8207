"""Detected objects (boxes, scores, labels, compact masks) in window or mosaic pixels."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from rcm.stitch._rle import crops_to_rle

Frame = Literal["window", "mosaic"]
_FRAMES = ("window", "mosaic")


def _no_origins() -> np.ndarray:
    return np.zeros((0, 2), np.int64)


def _integers(values: npt.ArrayLike, name: str) -> np.ndarray:
    array = np.asarray(values)
    # Casting 1.7 to 1 silently would hide a caller passing the wrong array.
    if array.size and not (
        np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.bool_)
    ):
        raise ValueError(f"{name} must hold integers, got dtype {array.dtype}")
    return array.astype(np.int64)


def _windows(values: npt.ArrayLike, n: int) -> np.ndarray:
    windows = _integers(values, "windows")
    if windows.shape == (0,):
        windows = windows.reshape(0, 4)
    if windows.shape != (n, 4):
        raise ValueError(f"windows must have shape ({n}, 4), got {windows.shape}")
    if (windows[:, 2] <= windows[:, 0]).any() or (windows[:, 3] <= windows[:, 1]).any():
        raise ValueError("windows must be [x0, y0, x1, y1] with x1 > x0 and y1 > y0")
    return windows


@dataclass(frozen=True, eq=False)
class Instances:
    """Objects found in one frame: a model's window, or the whole mosaic.

    Coordinates are ``x`` to the right and ``y`` down, in pixels of `frame`;
    `to_mosaic` is the one place where window pixels become mosaic pixels.
    Arrays passed in (lists too) are converted to the dtypes below; they are not
    copied when already right, so do not modify them afterwards.

    Attributes:
        boxes: ``(n, 4)`` float64 ``[x0, y0, x1, y1]``, corners of the box (COCO and
            torchvision convention: a box around pixel column 3 runs from 3 to 4).
        scores: ``(n,)`` float64 in [0, 1].
        labels: ``(n,)`` int64, 0-based index into the model's classes (no
            background class).
        frame: Which pixels the coordinates are in: ``"window"`` or ``"mosaic"``.
        masks: None for boxes only, or one 2-D bool array per instance; mask ``i``
            covers rows ``mask_origins[i, 0]`` to ``+ masks[i].shape[0]`` and columns
            ``mask_origins[i, 1]`` to ``+ masks[i].shape[1]`` of the frame.
        mask_origins: ``(n, 2)`` int64 ``(y, x)`` of each mask's top-left pixel;
            ``(0, 2)`` when `masks` is None.
        windows: None when unknown, or ``(n, 4)`` int64 ``[x0, y0, x1, y1]``: the
            extent, in pixels of `frame`, of the window each instance was found
            in (`with_window`). Instances with equal windows came from the same
            window (a grid's windows are distinct); merging across seams needs them.

    """

    boxes: np.ndarray
    scores: np.ndarray
    labels: np.ndarray
    frame: Frame
    masks: tuple[np.ndarray, ...] | None = None
    mask_origins: np.ndarray = field(default_factory=_no_origins)
    windows: np.ndarray | None = None

    def __post_init__(self) -> None:
        boxes = np.asarray(self.boxes, np.float64)
        if boxes.shape == (0,):  # an empty list
            boxes = boxes.reshape(0, 4)
        if boxes.ndim != 2 or boxes.shape[1] != 4:
            raise ValueError(f"boxes must have shape (n, 4), got {boxes.shape}")
        n = len(boxes)
        if not np.isfinite(boxes).all():
            raise ValueError("boxes must be finite")
        if (boxes[:, 2] < boxes[:, 0]).any() or (boxes[:, 3] < boxes[:, 1]).any():
            raise ValueError("boxes must be [x0, y0, x1, y1] with x1 >= x0 and y1 >= y0")
        scores = np.asarray(self.scores, np.float64).reshape(-1)
        if scores.shape != (n,):
            raise ValueError(f"scores must have shape ({n},), got {scores.shape}")
        if not ((scores >= 0) & (scores <= 1)).all():
            raise ValueError("scores must lie in [0, 1]")
        labels = _integers(self.labels, "labels").reshape(-1)
        if labels.shape != (n,):
            raise ValueError(f"labels must have shape ({n},), got {labels.shape}")
        if (labels < 0).any():
            raise ValueError("labels must be non-negative class indices")
        if self.frame not in _FRAMES:
            raise ValueError(f"frame must be one of {_FRAMES}, got {self.frame!r}")
        origins = _integers(self.mask_origins, "mask_origins")
        if self.masks is None:
            if origins.size:
                raise ValueError("mask_origins given without masks")
            origins = _no_origins()
        else:
            masks = tuple(np.asarray(mask) for mask in self.masks)
            if len(masks) != n:
                raise ValueError(f"{len(masks)} masks for {n} instances")
            for index, mask in enumerate(masks):
                if mask.ndim != 2 or mask.dtype != np.bool_:
                    raise ValueError(
                        f"mask {index} must be a 2-D bool array, got {mask.ndim}-D {mask.dtype}"
                    )
            if origins.shape == (0,):
                origins = origins.reshape(0, 2)
            if origins.shape != (n, 2):
                raise ValueError(f"mask_origins must have shape ({n}, 2), got {origins.shape}")
            object.__setattr__(self, "masks", masks)
        if self.windows is not None:
            object.__setattr__(self, "windows", _windows(self.windows, n))
        object.__setattr__(self, "boxes", boxes)
        object.__setattr__(self, "scores", scores)
        object.__setattr__(self, "labels", labels)
        object.__setattr__(self, "mask_origins", origins)

    @classmethod
    def empty(cls, frame: Frame, with_masks: bool = False) -> Instances:
        """No instances, in `frame`, with an empty tuple of masks when `with_masks`."""
        return cls(
            np.zeros((0, 4)), np.zeros(0), np.zeros(0, np.int64), frame, () if with_masks else None
        )

    @classmethod
    def from_dense_masks(
        cls,
        boxes: npt.ArrayLike,
        scores: npt.ArrayLike,
        labels: npt.ArrayLike,
        masks: npt.ArrayLike | None,
        frame: Frame,
    ) -> Instances:
        """Instances from a detector's frame-sized masks, each cropped to its True pixels.

        Args:
            boxes: ``(n, 4)`` ``[x0, y0, x1, y1]``.
            scores: ``(n,)``.
            labels: ``(n,)``.
            masks: ``(n, height, width)`` bool masks covering the whole frame, or None.
            frame: Which pixels the coordinates are in.

        Returns:
            One instance per input, in input order. A mask without True pixels
            becomes a 0 x 0 mask at its box's top-left pixel (kept, so outputs stay
            aligned with the detector's; ``select(areas > 0)`` drops them).

        """
        plain = cls(np.asarray(boxes), np.asarray(scores), np.asarray(labels), frame)
        if masks is None:
            return plain
        dense: np.ndarray = np.asarray(masks)
        if dense.ndim != 3 or dense.dtype != np.bool_:
            raise ValueError(
                f"dense masks must be an (n, height, width) bool array, got "
                f"{dense.ndim}-D {dense.dtype}"
            )
        if len(plain) != len(dense):
            raise ValueError(f"{len(dense)} masks for {len(plain)} boxes")
        rows = np.any(dense, axis=2)
        cols = np.any(dense, axis=1)
        present = np.any(rows, axis=1)
        top = rows.argmax(axis=1)
        bottom = dense.shape[1] - rows[:, ::-1].argmax(axis=1)
        left = cols.argmax(axis=1)
        right = dense.shape[2] - cols[:, ::-1].argmax(axis=1)
        # Empty masks sit at their box's top-left pixel, inside the frame.
        corner = np.floor(plain.boxes[:, [1, 0]]).clip(0, dense.shape[1:]).astype(np.int64)
        top = np.where(present, top, corner[:, 0])
        left = np.where(present, left, corner[:, 1])
        bottom = np.where(present, bottom, top)
        right = np.where(present, right, left)
        # Copies, so the compact masks do not keep the dense array alive.
        crops = tuple(
            dense[i, top[i] : bottom[i], left[i] : right[i]].copy() for i in range(len(dense))
        )
        origins = np.stack([top, left], axis=1)
        return cls(plain.boxes, plain.scores, plain.labels, frame, crops, origins)

    def __len__(self) -> int:
        return len(self.boxes)

    @property
    def has_masks(self) -> bool:
        """Whether the instances carry masks (possibly zero of them)."""
        return self.masks is not None

    @property
    def areas(self) -> np.ndarray:
        """``(n,)`` float64: mask pixel counts when there are masks, else box areas."""
        if self.masks is not None:
            return np.fromiter(
                (np.count_nonzero(mask) for mask in self.masks), np.float64, len(self)
            )
        return (self.boxes[:, 2] - self.boxes[:, 0]) * (self.boxes[:, 3] - self.boxes[:, 1])

    def select(self, indices: npt.ArrayLike) -> Instances:
        """The instances at `indices` (integers, in the order given, or a bool mask)."""
        index = np.asarray(indices)
        if index.dtype == np.bool_:
            if index.shape != (len(self),):
                raise ValueError(f"bool selection must have shape ({len(self)},)")
            index = np.flatnonzero(index)
        else:
            index = _integers(index, "indices").reshape(-1)
        masks = None if self.masks is None else tuple(self.masks[i] for i in index)
        origins = self.mask_origins[index] if self.masks is not None else _no_origins()
        windows = None if self.windows is None else self.windows[index]
        return Instances(
            self.boxes[index],
            self.scores[index],
            self.labels[index],
            self.frame,
            masks,
            origins,
            windows,
        )

    def with_window(self, window: Sequence[int]) -> Instances:
        """These instances, all found in `window` ``[x0, y0, x1, y1]`` (pixels of `frame`)."""
        windows = np.tile(_integers(window, "window").reshape(1, 4), (len(self), 1))
        return replace(self, windows=windows)

    @classmethod
    def concatenate(cls, parts: Sequence[Instances]) -> Instances:
        """All `parts` one after another.

        Raises:
            ValueError: If `parts` is empty (its frame would be unknown), or the
                parts differ in frame, in having masks or in having windows.

        """
        if not parts:
            raise ValueError("nothing to concatenate; use Instances.empty(frame)")
        frame, with_masks = parts[0].frame, parts[0].has_masks
        with_windows = parts[0].windows is not None
        if any(part.frame != frame for part in parts):
            raise ValueError("cannot concatenate instances in different frames")
        if any(part.has_masks != with_masks for part in parts):
            raise ValueError("cannot concatenate instances with and without masks")
        if any((part.windows is not None) != with_windows for part in parts):
            raise ValueError("cannot concatenate instances with and without windows")
        masks = None
        if with_masks:
            masks = tuple(mask for part in parts for mask in part.masks or ())
        windows = None
        if with_windows:
            windows = np.concatenate([part.windows for part in parts if part.windows is not None])
        return cls(
            np.concatenate([part.boxes for part in parts]),
            np.concatenate([part.scores for part in parts]),
            np.concatenate([part.labels for part in parts]),
            frame,
            masks,
            np.concatenate([part.mask_origins for part in parts]),
            windows,
        )

    def to_mosaic(self, y0: int, x0: int) -> Instances:
        """These window instances in mosaic pixels, the window's top-left being `(y0, x0)`.

        Boxes, mask origins and windows move together.

        Raises:
            ValueError: If the instances are already in mosaic pixels.

        """
        if self.frame != "window":
            raise ValueError("instances are already in mosaic pixels")
        shift = np.array([x0, y0, x0, y0], np.float64)
        origins = self.mask_origins + np.array([y0, x0], np.int64)
        windows = None if self.windows is None else self.windows + shift.astype(np.int64)
        return Instances(
            self.boxes + shift, self.scores, self.labels, "mosaic", self.masks, origins, windows
        )

    def clip(self, height: int, width: int) -> Instances:
        """Boxes clipped and masks cropped to a ``height`` x ``width`` frame.

        Instances left with zero area (as `areas` measures it) are dropped; windows
        are kept as they are.
        """
        boxes = self.boxes.copy()
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, width)
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, height)
        masks, origins = self.masks, self.mask_origins
        if self.masks is not None:
            frame_end = np.array([height, width], np.int64)
            shapes = np.array([mask.shape for mask in self.masks], np.int64).reshape(-1, 2)
            first = self.mask_origins.clip(0, frame_end)
            last = np.maximum(np.minimum(self.mask_origins + shapes, frame_end), first)
            top_left, bottom_right = first - self.mask_origins, last - self.mask_origins
            masks = tuple(
                mask[top:bottom, left:right]
                for mask, (top, left), (bottom, right) in zip(
                    self.masks, top_left.tolist(), bottom_right.tolist(), strict=True
                )
            )
            origins = first
        clipped = replace(self, boxes=boxes, masks=masks, mask_origins=origins)
        return clipped.select(clipped.areas > 0)

    def to_coco(
        self,
        image_size: tuple[int, int],
        category_ids: Sequence[int],
        image_id: int | None = None,
    ) -> list[dict[str, Any]]:
        """COCO results entries, one per instance, in order.

        Args:
            image_size: ``(height, width)`` of the mosaic.
            category_ids: COCO ``category_id`` of each label index.
            image_id: Added to every entry when given.

        Returns:
            Dicts with ``bbox`` ``[x, y, width, height]`` (2 decimals), ``score``
            (6 decimals) and ``category_id``; with masks also ``segmentation`` (a
            compressed RLE with str counts) and ``area`` (mask pixels).

        Raises:
            ValueError: If the instances are not in mosaic pixels, a label has no
                category, or a mask lies outside the image (`clip` first).

        """
        if self.frame != "mosaic":
            raise ValueError("COCO results need mosaic pixels; call to_mosaic first")
        categories = np.asarray(category_ids, np.int64)
        if len(self) and self.labels.max() >= len(categories):
            raise ValueError(
                f"label {self.labels.max()} has no category id ({len(categories)} given)"
            )
        xywh = self.boxes.copy()
        xywh[:, 2:] -= xywh[:, :2]
        # Rounded once here, then plain floats: the JSON text is the same on every run.
        boxes = (np.round(xywh, 2) + 0.0).tolist()  # + 0.0 turns -0.0 into 0.0
        scores = np.round(self.scores, 6).tolist()
        category = categories[self.labels].tolist()
        segmentations: list[dict[str, Any]] = []
        areas: list[int] = []
        if self.masks is not None:
            segmentations = crops_to_rle(self.masks, self.mask_origins, image_size)
            areas = self.areas.astype(np.int64).tolist()
        entries = []
        for i in range(len(self)):
            entry: dict[str, Any] = {}
            if image_id is not None:
                entry["image_id"] = int(image_id)
            entry["category_id"] = category[i]
            entry["bbox"] = boxes[i]
            entry["score"] = scores[i]
            if self.masks is not None:
                entry["segmentation"] = segmentations[i]
                entry["area"] = areas[i]
            entries.append(entry)
        return entries
