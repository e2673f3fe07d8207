"""The files of a photo inference run: ``summary.json``, ``predictions.csv``, ``skipped.csv``.

`rcm infer PHOTO|FOLDER|coco.json` writes one folder for the whole photo set.
Detector objects go to ``instances.json`` (`DetectionResults`: a COCO results
list with ``image_id``), versioned with the tables by the summary.

Version history of `PhotoRunSummary`:

- 1: the first version.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, get_args

import numpy as np

from rcm.errors import OutputFormatError
from rcm.io import read_document, write_document
from rcm.models import PHOTO_TASKS, Task
from rcm.outputs._csv import Columns, write_rows
from rcm.outputs._fields import Fields
from rcm.outputs._summary_parts import InstancesBlock

PHOTO_SUMMARY_VERSION = 1
PREDICTIONS = "predictions.csv"
SKIPPED = "skipped.csv"
IMAGE_COLUMNS = ("image", "image_id", "width", "height")
CALIBRATED = "_calibrated"
PhotoSourceKind = Literal["photo", "folder", "coco", "voc"]
PHOTO_SOURCE_KINDS: tuple[str, ...] = get_args(PhotoSourceKind)
_PHOTO_TASKS = tuple(task.value for task in PHOTO_TASKS)
_SUMMARY = "summary.json"


@dataclass(frozen=True)
class PhotoModelRecord:
    """The model a photo run used (``summary.json`` ``model``).

    Attributes:
        name: Store name, None for a model file given directly.
        file: The model file.
        checksum: Its checksum.
        architecture: The network's name.
        categories: The categories, in output order (``p_<category>`` columns).
        positive: The suspicious categories.
        input_px: A classifier's input edge; a detector's ``min_size``.
        calibration: The calibration method, None when the model has none.
        settings: The model's settings (fit, labels; a detector's sizes), plain JSON.

    """

    name: str | None
    file: str
    checksum: str
    architecture: str
    categories: tuple[str, ...]
    positive: tuple[str, ...]
    input_px: int
    calibration: str | None
    settings: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The JSON object."""
        data = asdict(self)
        return {**data, "categories": list(self.categories), "positive": list(self.positive)}

    @classmethod
    def from_fields(cls, fields: Fields) -> PhotoModelRecord:
        """Read from the ``model`` object."""
        return cls(
            name=fields.optional_text("name"),
            file=fields.text("file"),
            checksum=fields.text("checksum"),
            architecture=fields.text("architecture"),
            categories=fields.texts("categories"),
            positive=fields.texts("positive"),
            input_px=fields.integer("input_px"),
            calibration=fields.optional_text("calibration"),
            settings=fields.mapping("settings"),
        )


@dataclass(frozen=True)
class PhotoSourceRecord:
    """The photos a run read (``summary.json`` ``source``).

    Attributes:
        path: The photo, folder or annotation file given.
        kind: ``photo``, ``folder``, ``coco`` or ``voc``.
        images_root: The folder the ``image`` paths are relative to.
        checksum: ``sha256:`` over the annotation file's bytes (if any) and each
            photo's relative path and content hash, in source order.

    """

    path: str
    kind: PhotoSourceKind
    images_root: str
    checksum: str

    def to_json(self) -> dict[str, Any]:
        """The JSON object."""
        return asdict(self)

    @classmethod
    def from_fields(cls, fields: Fields) -> PhotoSourceRecord:
        """Read from the ``source`` object."""
        return cls(
            path=fields.text("path"),
            kind=fields.choice("kind", PHOTO_SOURCE_KINDS),
            images_root=fields.text("images_root"),
            checksum=fields.text("checksum"),
        )


@dataclass(frozen=True)
class SkippedPhoto:
    """A photo left out of a run (``--skip-unreadable``): its path and why."""

    image: str
    reason: str


@dataclass(frozen=True)
class PhotoRunSummary:
    """What one photo run did: model, source, counts, options, timings.

    Attributes:
        task: ``photo-classifier`` or ``photo-detector``.
        model: The model.
        source: The photos.
        images: Photos with a row in ``predictions.csv``.
        skipped: Photos left out (unreadable), in source order.
        options: The resolved options (plain JSON).
        timings: Seconds per part of the run.
        versions: Versions of rcm and its frameworks.
        instances: A detector's box counts (None for classifiers).
        notes: What the run noticed.

    """

    task: Task
    model: PhotoModelRecord
    source: PhotoSourceRecord
    images: int
    options: Mapping[str, Any]
    timings: Mapping[str, float] = field(default_factory=dict)
    versions: Mapping[str, str] = field(default_factory=dict)
    skipped: tuple[SkippedPhoto, ...] = ()
    instances: InstancesBlock | None = None
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "task", Task.parse(self.task))
        if self.task not in PHOTO_TASKS:
            raise ValueError(f"task must be one of {', '.join(_PHOTO_TASKS)}, got {self.task!r}")
        if (self.task == Task.PHOTO_DETECTOR) != (self.instances is not None):
            raise ValueError("a photo detector's summary has instances, a classifier's none")
        if self.images < 0:
            raise ValueError(f"images must be >= 0, got {self.images}")

    def to_json(self) -> dict[str, Any]:
        """The JSON object of the file (without ``schema_version``)."""
        data: dict[str, Any] = {
            "task": str(self.task),
            "model": self.model.to_json(),
            "source": self.source.to_json(),
            "images": self.images,
            "skipped": [asdict(item) for item in self.skipped],
            "options": dict(self.options),
            "timings": dict(self.timings),
            "versions": dict(self.versions),
            "notes": list(self.notes),
        }
        if self.instances is not None:
            data["instances"] = self.instances.to_json()
        return data

    def write(self, path: str | os.PathLike[str]) -> None:
        """Write the file (sorted keys, two-space indents, atomically)."""
        write_document(path, self.to_json(), PHOTO_SUMMARY_VERSION)

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> PhotoRunSummary:
        """Read a photo run's summary.

        Raises:
            OutputFormatError: If the file is missing, damaged, lacks a field, has a
                field of the wrong type, is a mosaic's summary, or is newer.

        """
        data, version = read_document(path, _SUMMARY, PHOTO_SUMMARY_VERSION)
        fields = Fields(path, _SUMMARY, data)
        if version == 0 or "source" not in data:
            raise fields.error("not the summary of a photo run (no schema_version or source)")
        task = Task(fields.choice("task", _PHOTO_TASKS))
        try:
            return cls(
                task=task,
                model=PhotoModelRecord.from_fields(fields.nested("model")),
                source=PhotoSourceRecord.from_fields(fields.nested("source")),
                images=fields.integer("images"),
                skipped=_skipped(fields),
                options=fields.mapping("options"),
                timings=_timings(fields),
                versions=fields.mapping("versions"),
                instances=InstancesBlock.from_fields(fields.nested("instances"))
                if task == Task.PHOTO_DETECTOR
                else None,
                notes=fields.texts("notes"),
            )
        except ValueError as error:
            raise OutputFormatError(path, f"{_SUMMARY}: {error}") from error


def _skipped(fields: Fields) -> tuple[SkippedPhoto, ...]:
    values = fields.data.get("skipped")
    if not isinstance(values, list):
        raise fields.error("skipped must be a list")
    found = []
    for number, item in enumerate(values):
        entry = Fields(fields.path, fields.kind, item, f"skipped[{number}]")
        found.append(SkippedPhoto(entry.text("image"), entry.text("reason")))
    return tuple(found)


def _timings(fields: Fields) -> dict[str, float]:
    timings = fields.nested("timings")
    return {key: timings.number(key) for key in timings.data}


def category_column(category: str) -> str:
    """The ``predictions.csv`` column of a category's raw probability."""
    return f"p_{category}"


@dataclass(frozen=True, eq=False)
class PhotoPredictions:
    """One row per photo, in source order: its identity, size and category probabilities.

    Columns: ``image, image_id, width, height``, ``p_<category>`` per category,
    then ``p_<category>_calibrated`` per category when the model is calibrated.
    A classifier's probability is its sigmoid (multi-label) or softmax
    (single-label) at temperature 1; a detector's is the highest box score of
    the category in the photo (0 without a box).

    Attributes:
        images: Paths relative to the images root (a folder's photos), or file names.
        image_ids: ``(N,)`` int64: COCO ids, else 1..N.
        sizes: ``(N, 2)`` int64 ``width, height`` in upright pixels.
        categories: Category names, in the model's order.
        probabilities: ``(N, C)`` float64 in [0, 1].
        calibrated: ``(N, C)`` calibrated probabilities, or None.

    """

    images: tuple[str, ...]
    image_ids: np.ndarray
    sizes: np.ndarray
    categories: tuple[str, ...]
    probabilities: np.ndarray
    calibrated: np.ndarray | None = None

    def __post_init__(self) -> None:
        count, classes = len(self.images), len(self.categories)
        if self.image_ids.shape != (count,) or self.sizes.shape != (count, 2):
            raise ValueError(f"image_ids ({count},) and sizes ({count}, 2) expected")
        for name, values in (
            ("probabilities", self.probabilities),
            ("calibrated", self.calibrated),
        ):
            if values is None:
                continue
            if values.shape != (count, classes):
                raise ValueError(f"{name} ({count}, {classes}) expected, got {values.shape}")
            bad = np.flatnonzero(~((values >= 0) & (values <= 1)).all(axis=1))
            if len(bad):
                raise ValueError(f"{self.images[bad[0]]}: {name} must lie in [0, 1]")
        if len(set(self.image_ids.tolist())) != count:
            raise ValueError("image_id must be unique")
        if (self.sizes < 1).any():
            raise ValueError("width and height must be >= 1")
        _check_categories(self.categories)

    def __len__(self) -> int:
        return len(self.images)

    @property
    def header(self) -> list[str]:
        """The columns of the file."""
        raw = [category_column(name) for name in self.categories]
        extra = [] if self.calibrated is None else [column + CALIBRATED for column in raw]
        return [*IMAGE_COLUMNS, *raw, *extra]

    def write(self, path: str | os.PathLike[str]) -> None:
        """Write ``predictions.csv`` (probabilities to 7 significant digits)."""
        write_rows(path, self.header, (self.row(index) for index in range(len(self))))

    def row(self, index: int) -> list:
        """The cells of photo `index`."""
        scores = [self.probabilities[index]]
        if self.calibrated is not None:
            scores.append(self.calibrated[index])
        numbers = (f"{float(value):.7g}" for value in np.concatenate(scores))
        width, height = self.sizes[index].tolist()
        return [self.images[index], int(self.image_ids[index]), width, height, *numbers]

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> PhotoPredictions:
        """Read ``predictions.csv``.

        Raises:
            OutputFormatError: Naming the file and the column or line at fault.

        """
        columns = Columns(path, PREDICTIONS, IMAGE_COLUMNS)
        header = columns.header
        if tuple(header[:4]) != IMAGE_COLUMNS:
            raise columns.error(f"columns must start with {', '.join(IMAGE_COLUMNS)}")
        scores = header[4:]
        if not scores or not all(name.startswith("p_") for name in scores):
            raise columns.error("columns after height must be p_<category>")
        half = len(scores) // 2
        calibrated = len(scores) % 2 == 0 and scores[half:] == [
            s + CALIBRATED for s in scores[:half]
        ]
        raw = scores[:half] if calibrated else scores
        values = columns.numbers(*range(4, len(header)))
        for line, row in enumerate(np.isnan(values).any(axis=1), start=2):
            if row:
                raise columns.error(f"line {line} has an empty probability")
        try:
            return cls(
                images=tuple(row[0] for row in columns.rows),
                image_ids=columns.integers("image_id")[:, 0],
                sizes=columns.integers("width", "height"),
                categories=tuple(name.removeprefix("p_") for name in raw),
                probabilities=values[:, : len(raw)],
                calibrated=values[:, len(raw) :] if calibrated else None,
            )
        except ValueError as error:
            raise columns.error(str(error)) from error


def _check_categories(categories: tuple[str, ...]) -> None:
    if not categories:
        raise ValueError("at least one category is needed")
    if len(set(categories)) != len(categories):
        raise ValueError("categories lists a name twice")
    # "x" and "x_calibrated" together would make the columns ambiguous to read back.
    clash = [
        n for n in categories if n.endswith(CALIBRATED) and n[: -len(CALIBRATED)] in categories
    ]
    if clash:
        raise ValueError(f"categories {clash[0].removesuffix(CALIBRATED)!r} and {clash[0]!r} clash")


@dataclass(frozen=True)
class SkippedPhotos:
    """``skipped.csv``: the photos a ``--skip-unreadable`` run left out, and why."""

    items: tuple[SkippedPhoto, ...]

    def write(self, path: str | os.PathLike[str]) -> None:
        """Write the table (columns image, reason)."""
        write_rows(path, ["image", "reason"], ([item.image, item.reason] for item in self.items))

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> SkippedPhotos:
        """Read the table.

        Raises:
            OutputFormatError: If the file cannot be read or lacks a column.

        """
        columns = Columns(path, SKIPPED, ("image", "reason"))
        image, reason = columns.header.index("image"), columns.header.index("reason")
        return cls(tuple(SkippedPhoto(row[image], row[reason]) for row in columns.rows))
