"""`DetectionResults`: ``instances.json`` of a window run, the objects found as COCO results.

The file is a bare COCO results list, which pycocotools' ``loadRes`` and other
COCO tools read as it is, so it has no place for a version: the folder's
``summary.json`` versions it, as it versions the tables. Versions 0 and 1 share
one layout.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rcm.errors import OutputFormatError

INSTANCES = "instances.json"


@dataclass(frozen=True)
class DetectionResults:
    """The objects of one mosaic (mosaic pixels) or of a photo set (each photo's upright pixels).

    Attributes:
        items: COCO results: ``bbox`` ``[x, y, width, height]``, ``score``,
            ``category_id``, and ``segmentation`` (RLE) for models with masks;
            ``image_id`` for a photo set's results.

    """

    items: tuple[Mapping[str, Any], ...]

    def __post_init__(self) -> None:
        for number, item in enumerate(self.items):
            _check(item, number)

    @property
    def boxes(self) -> np.ndarray:
        """``(N, 4)`` corner boxes ``x0, y0, x1, y1``."""
        xywh = np.array([item["bbox"] for item in self.items], np.float64).reshape(-1, 4)
        return np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)

    @property
    def image_ids(self) -> np.ndarray:
        """``(N,)`` int64 ``image_id`` of each result (0 where absent: a mosaic's objects)."""
        return np.array([item.get("image_id", 0) for item in self.items], np.int64)

    @property
    def scores(self) -> np.ndarray:
        return np.array([item["score"] for item in self.items], np.float64)

    def write(self, path: str | os.PathLike[str]) -> None:
        Path(path).write_text(json.dumps([dict(item) for item in self.items]))

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> DetectionResults:
        """Read and check a results list.

        Raises:
            OutputFormatError: Naming the file and the first bad entry.

        """
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise OutputFormatError(path, f"cannot read detections ({error})") from error
        if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
            raise OutputFormatError(path, "detections must be a list of COCO results")
        try:
            return cls(tuple(data))
        except ValueError as error:
            raise OutputFormatError(path, str(error)) from error


def _check(item: Mapping[str, Any], number: int) -> None:
    bbox, score, category = item.get("bbox"), item.get("score"), item.get("category_id")
    numbers_ok = isinstance(bbox, list) and len(bbox) == 4 and all(_is_number(v) for v in bbox)
    if not numbers_ok or not _is_number(score):
        raise ValueError(f"detection {number}: bbox must be 4 numbers and score a number")
    if not isinstance(category, int) or isinstance(category, bool):
        raise ValueError(f"detection {number}: category_id must be a whole number")
    image_id = item.get("image_id", 0)  # a photo set's results name their photo
    if not isinstance(image_id, int) or isinstance(image_id, bool):
        raise ValueError(f"detection {number}: image_id must be a whole number")
    segmentation = item.get("segmentation")
    if segmentation is not None and not (
        isinstance(segmentation, dict) and {"size", "counts"} <= set(segmentation)
    ):
        raise ValueError(f"detection {number}: segmentation must be COCO RLE (size, counts)")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
