"""The typed side of clinical photographs: the column mapping, boxes, records, the dataset.

Coordinates are continuous image pixels with the origin at the top-left corner
of the top-left pixel, as in COCO: a box covering pixel columns 0..9 spans x
from 0 to 10. A `PhotoBox` stores its top-left corner and size (COCO's
``[x, y, width, height]``), so COCO files round-trip exactly; `x_max`, `y_max`
and `xyxy` give the corner form that detection models take.

Every container checks its values on construction (`ValueError`), so a dataset
read from CSV, COCO or VOC is valid whichever reader built it.
"""

from __future__ import annotations

import itertools
import math
import os
import re
from dataclasses import dataclass, field
from decimal import Context, Decimal, InvalidOperation
from pathlib import Path
from typing import Literal, get_args

from rcm.config import custom, from_mapping, normal_path, optional, read_yaml
from rcm.errors import bad_input

BoxFormat = Literal["xyxy", "xywh"]
BOX_FORMATS: tuple[str, ...] = get_args(BoxFormat)
SEVERITIES = ("error", "warning")
MAX_AGE = 150
# Enough digits that sums and differences of float-sized decimals are exact.
EXACT = Context(prec=1000)
_CONTROL = re.compile("[\x00-\x1f\x7f]")  # characters XML cannot hold
# Relative slack for float rounding when a clipped box ends exactly on the image edge.
_EDGE_SLACK = 1e-9


@dataclass(frozen=True)
class PhotoColumns:
    """Which CSV columns hold what, and how to read the box.

    Attributes:
        image: Column with the image path, relative to the images root.
        patient_id: Column with the patient identifier.
        category: Column with the lesion category of the box.
        box: The four coordinate columns, in `box_format` order: ``x_min, y_min,
            x_max, y_max`` for "xyxy", ``x, y, width, height`` for "xywh" (pixels).
        categories: Known category names; their order gives COCO ids 1..N.
        box_format: "xyxy" or "xywh".
        sex: Column with the patient's sex, or None when the table has none.
        age: Column with the patient's age in years, or None when the table has none.
        images_root: Folder the image paths are relative to (None: the CSV's folder).

    """

    image: str
    patient_id: str
    category: str
    box: tuple[str, str, str, str]
    categories: tuple[str, ...]
    box_format: str = "xyxy"
    sex: str | None = None
    age: str | None = None
    images_root: Path | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "box", tuple(self.box))  # lists from YAML or callers
        object.__setattr__(self, "categories", tuple(self.categories))
        if self.box_format not in BOX_FORMATS:
            raise ValueError(f"box_format must be xyxy or xywh, got {self.box_format!r}")
        if len(self.box) != 4:
            raise ValueError(f"box needs 4 column names, got {len(self.box)}")
        names = self.required
        for name in names:
            check_text(name, "a column name")
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise ValueError(f"column(s) {', '.join(twice)} mapped to more than one field")
        if not self.categories:
            raise ValueError("categories must list at least one category")
        for name in self.categories:
            check_text(name, "a category name")
        if len(set(self.categories)) != len(self.categories):
            raise ValueError("categories lists a name twice")

    @property
    def required(self) -> tuple[str, ...]:
        """The CSV columns that must exist in the table's header."""
        optional = tuple(name for name in (self.sex, self.age) if name is not None)
        return (self.image, self.patient_id, self.category, *self.box, *optional)


@dataclass(frozen=True)
class PhotoBox:
    """One expert lesion box in image pixels: top-left corner and size (COCO's bbox).

    A `crowd` box (COCO ``iscrowd`` 1, VOC ``difficult`` 1) marks a region to
    ignore: training leaves it out of the targets, and evaluation neither
    rewards nor penalises detections on it (COCO's ignore regions).
    """

    category: str
    x: float
    y: float
    width: float
    height: float
    crowd: bool = False

    def __post_init__(self) -> None:
        check_text(self.category, "a box category")
        if not isinstance(self.crowd, bool):
            raise ValueError(f"crowd must be True or False, got {self.crowd!r}")
        for name in ("x", "y", "width", "height"):  # ints from callers: writers need floats
            object.__setattr__(self, name, float(getattr(self, name)))
        values = (self.x, self.y, self.width, self.height)
        if not all(math.isfinite(value) for value in values):
            raise ValueError(f"box coordinates must be finite numbers, got {values}")
        if self.x < 0 or self.y < 0 or self.width <= 0 or self.height <= 0:
            raise ValueError(f"box needs x, y >= 0 and width, height > 0, got {values}")

    @property
    def x_max(self) -> float:
        """Right edge (exclusive, continuous pixels)."""
        return self.x + self.width

    @property
    def y_max(self) -> float:
        """Bottom edge (exclusive, continuous pixels)."""
        return self.y + self.height

    @property
    def xyxy(self) -> tuple[float, float, float, float]:
        """``(x_min, y_min, x_max, y_max)``, as detection models take boxes."""
        return (self.x, self.y, self.x_max, self.y_max)


@dataclass(frozen=True)
class PhotoRecord:
    """One photograph: where it is, its size, its patient, and its lesion boxes.

    Attributes:
        image: Path relative to the images root, with ``/`` separators.
        width: Stored pixel columns (EXIF orientation is not applied).
        height: Stored pixel rows.
        depth: Channels (3 for RGB, 1 for grayscale).
        patient_id: The patient the photograph belongs to.
        sex: As written in the source table, or None when not recorded.
        age: Years, or None when not recorded.
        boxes: Lesion boxes inside the image, in source order (may be empty).

    """

    image: str
    width: int
    height: int
    depth: int
    patient_id: str
    sex: str | None
    age: float | None
    boxes: tuple[PhotoBox, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "boxes", tuple(self.boxes))  # equality needs one sequence type
        if self.age is not None:
            object.__setattr__(self, "age", float(self.age))
        check_text(self.image, "an image path")
        check_text(self.patient_id, "a patient id")
        if self.sex is not None:
            check_text(self.sex, "a sex")
        if min(self.width, self.height, self.depth) < 1:
            raise ValueError(f"{self.image}: width, height and depth must be >= 1")
        if self.age is not None and not 0 <= self.age <= MAX_AGE:
            raise ValueError(f"{self.image}: age must be 0..{MAX_AGE} years, got {self.age}")
        right, bottom = self.width * (1 + _EDGE_SLACK), self.height * (1 + _EDGE_SLACK)
        for box in self.boxes:
            if box.x_max > right or box.y_max > bottom:
                raise ValueError(
                    f"{self.image}: box {box.xyxy} extends outside the "
                    f"{self.width} x {self.height} image"
                )


@dataclass(frozen=True)
class PhotoDataset:
    """Photographs and the category list (order = category ids 1..N).

    Images are kept sorted by path, so every writer's output is canonical
    whatever the order of the source table.
    """

    categories: tuple[str, ...]
    images: tuple[PhotoRecord, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "categories", tuple(self.categories))
        object.__setattr__(self, "images", tuple(sorted(self.images, key=lambda r: r.image)))
        if len(set(self.categories)) != len(self.categories):
            raise ValueError("categories lists a name twice")
        paths = [record.image for record in self.images]
        twice = sorted({p for a, p in itertools.pairwise(paths) if a == p})
        if twice:
            raise ValueError(f"image(s) listed twice: {', '.join(twice[:5])}")
        unknown = {box.category for r in self.images for box in r.boxes} - set(self.categories)
        if unknown:
            raise ValueError(f"box categories not in the category list: {sorted(unknown)}")

    @property
    def n_boxes(self) -> int:
        """Lesion boxes over all images."""
        return sum(len(record.boxes) for record in self.images)

    @property
    def patients(self) -> tuple[str, ...]:
        """Distinct patient ids, sorted."""
        return tuple(sorted({record.patient_id for record in self.images}))


@dataclass(frozen=True)
class PhotoProblem:
    """Something wrong in the photo table, at one CSV line (the header is line 1)."""

    severity: str  # "error" (the image is left out) or "warning" (kept)
    line: int
    image: str
    message: str

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity must be error or warning, got {self.severity!r}")


@dataclass(frozen=True)
class ColumnNames:
    """The ``columns:`` section of a columns config (see `PhotoColumns`)."""

    image: str
    patient_id: str
    category: str
    box: tuple[str, str, str, str]
    sex: str | None = None
    age: str | None = None


@dataclass(frozen=True)
class ColumnsFile:
    """A columns config as written; `load_photo_columns` makes a `PhotoColumns` of it."""

    columns: ColumnNames
    categories: tuple[str, ...]
    box_format: BoxFormat = "xyxy"
    images_root: Path | None = field(default=None, metadata=custom(optional(normal_path)))


def load_photo_columns(path: str | os.PathLike[str]) -> PhotoColumns:
    """Read and validate a columns config (YAML); ``images_root`` is relative to it.

    Raises:
        InputError: Naming the file and the first reason it cannot be used (unknown
            keys, missing keys, values of the wrong kind), by `rcm.config`'s rules.

    """
    source = Path(path)
    data = read_yaml(source)
    with bad_input(source):
        config = from_mapping(ColumnsFile, data, base=source.resolve().parent)
        names = config.columns
        return PhotoColumns(
            image=names.image,
            patient_id=names.patient_id,
            category=names.category,
            box=names.box,
            categories=config.categories,
            box_format=config.box_format,
            sex=names.sex,
            age=names.age,
            images_root=config.images_root,
        )


def check_text(value: str, what: str) -> None:
    """Non-empty, without surrounding spaces or control characters (XML cannot hold those).

    Raises:
        ValueError: Naming `what` the value was meant to be.

    """
    if not value or value != value.strip() or _CONTROL.search(value):
        raise ValueError(f"{value!r} is not usable as {what} (empty, padded or control characters)")


def decimal_number(text: str, what: str) -> Decimal:
    """A finite decimal from text, exactly as written (no float rounding).

    Raises:
        ValueError: If `text` is not a number, or is infinite or NaN.

    """
    try:
        number = Decimal(text.strip())
    except InvalidOperation:
        raise ValueError(f"{what} {text!r} is not a number") from None
    if not number.is_finite():
        raise ValueError(f"{what} {text!r} is not a finite number")
    return number
