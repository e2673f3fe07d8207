"""The truth side of a photo evaluation: the part of a split, crowd regions, upright boxes.

Expert boxes are recorded in stored pixels (as `rcm data photos` and COCO/VOC
files hold them); a photo run's probabilities and boxes are in upright pixels
(the EXIF orientation applied by `rcm.data.read_photo`). Boxes are compared in
upright pixels: each photo's orientation is read from its header (no pixels
are decoded) and `rcm.data.orient_boxes` moves the boxes.

COCO ``iscrowd`` 1 annotations are ignore regions: `PhotoDataset` keeps boxes
only, so the flags are read from the COCO file again, in the same order (the
boxes of an image are its annotations in file order). VOC has no crowd flag.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from rcm.data import PhotoRecord, PhotoSource, orient_boxes, read_split
from rcm.errors import InputError
from rcm.outputs import InputProblem

_EXIF_ORIENTATION = 0x0112
_PILLOW_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError)


@dataclass(frozen=True)
class TruthBoxes:
    """One photo's expert boxes in upright pixels.

    Attributes:
        boxes: ``(k, 4)`` xyxy.
        labels: ``(k,)`` category index in the model's order.
        crowd: ``(k,)`` True for a crowd (ignore) region.

    """

    boxes: np.ndarray
    labels: np.ndarray
    crowd: np.ndarray


def split_part(
    records: Sequence[PhotoRecord],
    split: str | Path,
    part: str,
    problems: list[InputProblem],
) -> list[PhotoRecord]:
    """The records in `part` of the split file; records it lacks or disagrees on are errors."""
    assignment = read_split(split)
    parts = sorted(set(assignment.assignment.values()))
    if part not in parts:
        raise InputError(split, f"has no part {part!r} (its parts: {', '.join(parts)})")
    kept = []
    for record in records:
        name = record.image
        if name not in assignment.assignment:
            problems.append(InputProblem("error", str(split), None, name, "not in the split"))
            continue
        patient = assignment.patient_of[name]
        if patient != record.patient_id:
            message = f"patient {patient} in the split, {record.patient_id} in the truth"
            problems.append(InputProblem("error", str(split), None, name, message))
        elif assignment.assignment[name] == part:
            kept.append(record)
    return kept


def truth_labels(record: PhotoRecord, categories: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Category index and crowd flag (COCO ``iscrowd``, VOC ``difficult``) of each box."""
    index = {name: number for number, name in enumerate(categories)}
    labels = np.array([index[box.category] for box in record.boxes], np.int64)
    flags = np.array([box.crowd for box in record.boxes], bool)
    return labels, flags


def upright_boxes(
    source: PhotoSource,
    record: PhotoRecord,
    labels: np.ndarray,
    crowd: np.ndarray,
    size: tuple[int, int],
) -> TruthBoxes | str:
    """The record's boxes in the upright pixels of its photo, or why they cannot be.

    Args:
        source: Where the photo is.
        record: Its truth (stored pixels).
        labels: Category index per box.
        crowd: Crowd flag per box.
        size: ``(width, height)`` the run recorded (upright).

    """
    stored = np.array([box.xyxy for box in record.boxes], np.float64).reshape(-1, 4)
    path = source.image_path(record)
    try:
        with Image.open(path) as image:
            value = image.getexif().get(_EXIF_ORIENTATION, 1)
    except FileNotFoundError:
        return f"photo {path} not found (its EXIF orientation places the boxes)"
    except _PILLOW_ERRORS as error:
        return f"photo {path} is not a readable image ({error})"
    orientation = value if isinstance(value, int) and 1 <= value <= 8 else 1
    width, height = record.width, record.height
    upright = (height, width) if orientation >= 5 else (width, height)
    if upright != tuple(size):
        return (
            f"the run saw it as {size[0]} x {size[1]} pixels, the truth and its EXIF "
            f"orientation make it {upright[0]} x {upright[1]}"
        )
    return TruthBoxes(orient_boxes(stored, orientation, width, height), labels, crowd)
