"""A photo detector's examples: whole upright photographs and their boxes, decoded in workers.

Each photo goes through `rcm.data.read_photo` (EXIF orientation, the RGB rule,
the pixel budget), which moves its boxes with the pixels, so a rotated phone
photo trains on boxes where the lesions are. Photos keep their own size: the
detector resizes them by its own rule inside the network, in training exactly
as in `rcm infer`. Crowd boxes (COCO ``iscrowd``, VOC ``difficult``) travel with
a flag: training leaves them out, validation scores them as regions to ignore.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from rcm.data import PhotoRecord, read_photo
from rcm.errors import InputError
from rcm.train._photo_data import UnreadablePhoto


@dataclass(frozen=True)
class PhotoBoxes:
    """One photo's boxes as stored: ``(N, 4)`` xyxy, 0-based category indices, crowd flags."""

    boxes: np.ndarray
    labels: np.ndarray
    crowd: np.ndarray

    @classmethod
    def of(cls, record: PhotoRecord, categories: tuple[str, ...]) -> PhotoBoxes:
        index = {name: i for i, name in enumerate(categories)}
        boxes = [(b.x, b.y, b.x + b.width, b.y + b.height) for b in record.boxes]
        return cls(
            boxes=np.asarray(boxes, dtype=np.float64).reshape(-1, 4),
            labels=np.asarray([index[b.category] for b in record.boxes], dtype=np.int64),
            crowd=np.asarray([b.crowd for b in record.boxes], dtype=bool),
        )


class BoxExample(NamedTuple):
    """An upright photo ``(H, W, 3)`` uint8 and its boxes in those pixels."""

    pixels: torch.Tensor
    boxes: torch.Tensor  # (N, 4) float32 xyxy
    labels: torch.Tensor  # (N,) int64, 0-based category indices
    crowd: torch.Tensor  # (N,) bool


class BoxBatch(NamedTuple):
    """Photos of different sizes and their boxes, in lists."""

    pixels: list[torch.Tensor]
    boxes: list[torch.Tensor]
    labels: list[torch.Tensor]
    crowd: list[torch.Tensor]


def collate_boxes(items: list[BoxExample | UnreadablePhoto]) -> BoxBatch | UnreadablePhoto:
    """A batch as lists (photos differ in size), or the first photo that could not be read."""
    for item in items:
        if isinstance(item, UnreadablePhoto):
            return item
    examples = [item for item in items if isinstance(item, BoxExample)]
    return BoxBatch(*(list(column) for column in zip(*examples, strict=True)))


class PhotoBoxInputs(torch.utils.data.Dataset[BoxExample | UnreadablePhoto]):
    """Upright photos and their boxes; decoded when asked (in DataLoader workers).

    Picklable (paths and arrays only). Batch with `collate_boxes` and read the
    batches through `rcm.train._photo_data.raise_unreadable`.
    """

    def __init__(self, paths: list[Path], boxes: list[PhotoBoxes]) -> None:
        if len(paths) != len(boxes):
            raise ValueError("one box list per photo")
        self.paths, self.boxes = paths, boxes

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> BoxExample | UnreadablePhoto:
        stored = self.boxes[index]
        try:
            photo = read_photo(self.paths[index], stored.boxes)
        except InputError as error:
            return UnreadablePhoto(error.path, error.reason)
        return BoxExample(
            torch.from_numpy(photo.rgb),
            torch.from_numpy(photo.boxes.astype(np.float32)),
            torch.from_numpy(stored.labels),
            torch.from_numpy(stored.crowd),
        )
