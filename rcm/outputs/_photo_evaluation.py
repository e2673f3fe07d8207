"""metrics.json of ``rcm evaluate`` on a photo run: typed and versioned.

The parts other code reads are typed: the task and categories, the counts, the
AUROC of each category with macro and micro averages (each with its
patient-bootstrap interval), which probabilities the calibration measures used,
the evaluated part of a split, the checksums of the inputs, the problems found
in them (each with its file and line), the options and the versions. Every
other block (ROC curves, operating points, top-k, confusion matrix,
calibration, detection, FROC, readers) stays JSON in `metrics`.

Version history:
    1: the first version.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, get_args

from rcm.errors import OutputFormatError
from rcm.io import read_document, require, write_document
from rcm.outputs._evaluation import Interval, Severity, _build, _strings

PHOTO_EVALUATION_VERSION = 1
Probabilities = Literal["calibrated", "raw"]
LabelMode = Literal["multi", "single"]
_KIND = "metrics.json"
_TYPED = (
    "task",
    "categories",
    "labels",
    "counts",
    "auroc",
    "macro_auroc",
    "micro_auroc",
    "probabilities",
    "part",
    "inputs",
    "problems",
    "options",
    "versions",
)
_REQUIRED = tuple(key for key in _TYPED if key != "part")


@dataclass(frozen=True)
class InputProblem:
    """Something wrong with an input file, at a line when it has lines.

    Attributes:
        severity: ``error`` (the evaluation stops) or ``warning`` (it goes on).
        file: The file at fault.
        line: Its line (the CSV header is line 1), or None.
        image: The photo concerned, or None.
        message: What is wrong, and what was done about it.

    """

    severity: Severity
    file: str
    line: int | None
    image: str | None
    message: str

    def __post_init__(self) -> None:
        if self.severity not in get_args(Severity):
            raise ValueError(f"severity must be error or warning, got {self.severity!r}")

    def __str__(self) -> str:
        """``severity: file:line: image: message``, as the CLI prints it."""
        where = self.file + (f":{self.line}" if self.line is not None else "")
        image = f"{self.image}: " if self.image else ""
        return f"{self.severity}: {where}: {image}{self.message}"


@dataclass(frozen=True)
class PhotoCounts:
    """What was scored.

    Attributes:
        images: Photos evaluated.
        patients: Their patients.
        boxes: Expert boxes on them (crowd regions not counted).
        crowd_boxes: Crowd (ignore) regions on them.
        single_category_images: Photos showing exactly one category (top-k, confusion).

    """

    images: int
    patients: int
    boxes: int
    crowd_boxes: int
    single_category_images: int


@dataclass(frozen=True)
class PhotoEvaluationSettings:
    """The options that change the numbers of a photo evaluation."""

    bootstrap: int
    seed: int
    target_sensitivity: float
    target_specificity: float
    reader_threshold: float


@dataclass(frozen=True)
class PhotoEvaluationDocument:
    """The content of a photo evaluation's metrics.json.

    Attributes:
        task: ``photo-classifier`` or ``photo-detector``.
        categories: The model's categories, in its order.
        labels: ``single`` (softmax: one category per photo) or ``multi``.
        counts: What was scored.
        auroc: Per category, one-vs-rest AUROC with its interval (None: one class only).
        macro_auroc: Mean of the categories' AUROCs, with its interval.
        micro_auroc: AUROC of all (photo, category) pairs pooled, with its interval.
        probabilities: Which probabilities the calibration measures used.
        inputs: sha256 checksums of what was read, by name.
        problems: What was wrong with the inputs (warnings when the run went on).
        options: The options that change the numbers.
        versions: Versions of rcm (and libraries) that made the file.
        part: The part of the split evaluated, None for the whole set.
        metrics: Every other metric block, as JSON.

    """

    task: str
    categories: tuple[str, ...]
    labels: LabelMode
    counts: PhotoCounts
    auroc: Mapping[str, Interval | None]
    macro_auroc: Interval | None
    micro_auroc: Interval | None
    probabilities: Probabilities
    inputs: Mapping[str, str]
    problems: tuple[InputProblem, ...]
    options: PhotoEvaluationSettings
    versions: Mapping[str, str]
    part: str | None = None
    metrics: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "categories", tuple(self.categories))
        clash = sorted(set(self.metrics) & set(_TYPED))
        if clash:
            raise ValueError(f"metric blocks may not use the typed keys {', '.join(clash)}")
        if set(self.auroc) != set(self.categories):
            raise ValueError("auroc must have one entry per category")
        if self.labels not in get_args(LabelMode):
            raise ValueError(f"labels must be multi or single, got {self.labels!r}")
        if self.probabilities not in get_args(Probabilities):
            raise ValueError(f"probabilities must be calibrated or raw, got {self.probabilities!r}")

    def to_json(self) -> dict[str, Any]:
        """The JSON object of the file (without ``schema_version``)."""
        return {
            **self.metrics,
            "task": self.task,
            "categories": list(self.categories),
            "labels": self.labels,
            "counts": asdict(self.counts),
            "auroc": {name: _interval_json(self.auroc[name]) for name in self.categories},
            "macro_auroc": _interval_json(self.macro_auroc),
            "micro_auroc": _interval_json(self.micro_auroc),
            "probabilities": self.probabilities,
            "part": self.part,
            "inputs": dict(self.inputs),
            "problems": [asdict(problem) for problem in self.problems],
            "options": asdict(self.options),
            "versions": dict(self.versions),
        }

    def write(self, path: str | os.PathLike[str]) -> None:
        """Write metrics.json (atomically, with ``schema_version``)."""
        write_document(path, self.to_json(), PHOTO_EVALUATION_VERSION)

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> PhotoEvaluationDocument:
        """Read a photo evaluation's metrics.json.

        Raises:
            OutputFormatError: If the file is unreadable, lacks a part, has a part of
                the wrong shape, or comes from a newer rcm.

        """
        data, _ = read_document(path, _KIND, PHOTO_EVALUATION_VERSION)
        require(path, _KIND, data, _REQUIRED)
        data.pop("schema_version", None)
        try:
            return cls.from_json(data)
        except (TypeError, ValueError) as error:
            raise OutputFormatError(path, f"{_KIND} has a malformed part ({error})") from error

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PhotoEvaluationDocument:
        """The document of a JSON object as `to_json` makes it.

        Raises:
            TypeError: If a typed part has missing, extra or mistyped fields.
            ValueError: If a value is out of its set (severity, labels, probabilities).

        """
        categories = data["categories"]
        if not isinstance(categories, list) or not all(isinstance(c, str) for c in categories):
            raise TypeError("categories must be a list of strings")
        auroc = data["auroc"]
        if not isinstance(auroc, Mapping):
            raise TypeError("auroc must be an object")
        return cls(
            task=_text(data["task"], "task"),
            categories=tuple(categories),
            labels=data["labels"],
            counts=_build(PhotoCounts, data["counts"], "counts"),
            auroc={name: _interval(value, f"auroc.{name}") for name, value in auroc.items()},
            macro_auroc=_interval(data["macro_auroc"], "macro_auroc"),
            micro_auroc=_interval(data["micro_auroc"], "micro_auroc"),
            probabilities=data["probabilities"],
            inputs=_strings(data["inputs"], "inputs"),
            problems=tuple(_problem(item) for item in _items(data["problems"])),
            options=_build(PhotoEvaluationSettings, data["options"], "options"),
            versions=_strings(data["versions"], "versions"),
            part=None if data.get("part") is None else _text(data["part"], "part"),
            metrics={key: value for key, value in data.items() if key not in _TYPED},
        )


def _interval_json(value: Interval | None) -> dict[str, Any] | None:
    return None if value is None else asdict(value)


def _interval(value: Any, name: str) -> Interval | None:
    return None if value is None else _build(Interval, value, name)


def _text(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, got {value!r}")
    return value


def _items(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise TypeError(f"problems must be a list, got {type(value).__name__}")
    return value


def _problem(value: Any) -> InputProblem:
    """A problem from JSON: the line is an integer or null, the image a string or null."""
    if not isinstance(value, Mapping) or set(value) != set(InputProblem.__dataclass_fields__):
        raise TypeError("problems[] must be objects of severity, file, line, image, message")
    line, image = value["line"], value["image"]
    if line is not None and (isinstance(line, bool) or not isinstance(line, int)):
        raise TypeError(f"problems[].line must be an integer or null, got {line!r}")
    if image is not None and not isinstance(image, str):
        raise TypeError(f"problems[].image must be a string or null, got {image!r}")
    return InputProblem(
        _text(value["severity"], "problems[].severity"),  # type: ignore[arg-type]
        _text(value["file"], "problems[].file"),
        line,
        image,
        _text(value["message"], "problems[].message"),
    )
