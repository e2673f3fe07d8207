"""The typed parts of a mosaic's ``summary.json``: verdict, provenance, map and counts.

Each part turns into the JSON object it is written as (`to_json`) and back
(`from_fields`); the keys are those rcm 0.1.0 wrote, so files stay readable
both ways.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from dataclasses import fields as fields_of
from typing import Any, Literal, get_args

from rcm.models import CALIBRATION_METHODS, TASKS, CalibrationMethod, Task
from rcm.outputs._fields import Fields

Status = Literal["ok", "no_tissue"]
Decision = Literal["suspicious", "not suspicious", "no tissue"]
Unit = Literal["tiles", "windows"]

STATUSES: tuple[str, ...] = get_args(Status)
DECISIONS: tuple[str, ...] = get_args(Decision)


@dataclass(frozen=True)
class Verdict:
    """The mosaic's decision by the coverage rule, with the rule's two numbers.

    Attributes:
        status: ``ok``, or ``no_tissue`` when nothing was run (scored 0).
        decision: ``suspicious``, ``not suspicious`` or ``no tissue``.
        score: The mosaic score (the threshold at which coverage reaches the fraction).
        threshold: Map value at or above which tissue is suspicious.
        coverage_fraction: Share of tissue that makes a mosaic suspicious.
        coverage_at_threshold: Share of tissue at or above the threshold.
        probability: The model's calibrated probability of the score (a diagnostic
            probability, not a diagnosis); None when the model is not calibrated.

    """

    status: Status
    decision: Decision
    score: float
    threshold: float
    coverage_fraction: float
    coverage_at_threshold: float
    probability: float | None = None

    @classmethod
    def from_fields(cls, fields: Fields) -> Verdict:
        """The verdict of a summary's top-level fields."""
        probability = fields.nullable_number("probability")
        if probability is not None and not 0 <= probability <= 1:
            raise fields.error(f"probability must be in [0, 1], got {probability!r}")
        return cls(
            status=fields.choice("status", STATUSES),
            decision=fields.choice("decision", DECISIONS),
            score=fields.number("score"),
            threshold=fields.number("threshold"),
            coverage_fraction=fields.number("coverage_fraction"),
            coverage_at_threshold=fields.number("coverage_at_threshold"),
            probability=probability,
        )


@dataclass(frozen=True)
class MosaicRecord:
    """The mosaic an output was made from (``summary.json`` ``mosaic``)."""

    path: str
    checksum: str
    shape: tuple[int, ...]
    um_per_px: float | None
    um_per_px_source: str | None

    def to_json(self) -> dict[str, Any]:
        """The JSON object."""
        return {**asdict(self), "shape": list(self.shape)}

    @classmethod
    def from_fields(cls, fields: Fields) -> MosaicRecord:
        """Read from the ``mosaic`` object."""
        return cls(
            path=fields.text("path"),
            checksum=fields.text("checksum"),
            shape=fields.integers("shape"),
            um_per_px=fields.optional_number("um_per_px"),
            um_per_px_source=fields.optional_text("um_per_px_source"),
        )


@dataclass(frozen=True)
class ModelRecord:
    """The model an output was made with (``summary.json`` ``model``).

    Attributes:
        name: Store name, None for a model file given directly.
        file: The model file.
        checksum: Its checksum.
        task: ``classifier``, ``detector`` or ``segmenter``.
        architecture: The network's name.
        classes: Class names, in output order.
        positive: The suspicious classes.
        tile_px: Tile or window edge in training pixels.
        um_per_px: Training pixel size, None when unknown.
        calibration_method: How the model's score becomes a probability
            (``platt``, ``isotonic``); None when it is not calibrated.
        meta: The rest of the model file's metadata, as plain JSON (with the
            ``calibration`` parameters when calibrated).

    """

    name: str | None
    file: str
    checksum: str
    task: Task
    architecture: str
    classes: tuple[str, ...]
    positive: tuple[str, ...]
    tile_px: int
    um_per_px: float | None
    calibration_method: CalibrationMethod | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The JSON object."""
        typed = {key: value for key, value in asdict(self).items() if key != "meta"}
        return {
            **self.meta,
            **typed,
            "classes": list(self.classes),
            "positive": list(self.positive),
        }

    @classmethod
    def from_fields(cls, fields: Fields) -> ModelRecord:
        """Read from the ``model`` object."""
        typed = {field.name for field in fields_of(cls)} - {"meta"}
        return cls(
            name=fields.optional_text("name"),
            file=fields.text("file"),
            checksum=fields.text("checksum"),
            task=Task(fields.choice("task", TASKS)),
            architecture=fields.text("architecture"),
            classes=fields.texts("classes"),
            positive=fields.texts("positive"),
            tile_px=fields.integer("tile_px"),
            um_per_px=fields.optional_number("um_per_px"),
            calibration_method=fields.nullable_choice("calibration_method", CALIBRATION_METHODS),
            meta={key: value for key, value in fields.data.items() if key not in typed},
        )


@dataclass(frozen=True)
class MapLayout:
    """The map's scale (mosaic pixels per map pixel) and shape (``summary.json`` ``map``)."""

    scale: int
    shape: tuple[int, int]

    def to_json(self) -> dict[str, Any]:
        """The JSON object."""
        return {"scale": self.scale, "shape": list(self.shape)}

    @classmethod
    def from_fields(cls, fields: Fields) -> MapLayout:
        """Read from the ``map`` object."""
        height, width = fields.integers("shape", 2)
        return cls(scale=fields.integer("scale"), shape=(height, width))


@dataclass(frozen=True)
class TilesBlock:
    """A classifier's tile grid and counts (``summary.json`` ``tiles``)."""

    grid: tuple[int, int]
    tile_px: int
    stride_px: int
    total: int
    classified: int
    suspicious: int

    def to_json(self) -> dict[str, Any]:
        """The JSON object."""
        return {**asdict(self), "grid": list(self.grid)}

    @classmethod
    def from_fields(cls, fields: Fields) -> TilesBlock:
        """Read from the ``tiles`` object."""
        rows, cols = fields.integers("grid", 2)
        return cls(
            grid=(rows, cols),
            **{k: fields.integer(k) for k in ("tile_px", "stride_px", "total", "classified")},
            suspicious=fields.integer("suspicious"),
        )


@dataclass(frozen=True)
class WindowsBlock:
    """A window model's grid and counts (``summary.json`` ``windows``)."""

    grid: tuple[int, int]
    window_px: int
    stride_px: int
    total: int
    run: int

    def to_json(self) -> dict[str, Any]:
        """The JSON object."""
        return {**asdict(self), "grid": list(self.grid)}

    @classmethod
    def from_fields(cls, fields: Fields) -> WindowsBlock:
        """Read from the ``windows`` object."""
        rows, cols = fields.integers("grid", 2)
        return cls(
            grid=(rows, cols),
            **{k: fields.integer(k) for k in ("window_px", "stride_px", "total", "run")},
        )


@dataclass(frozen=True)
class InstancesBlock:
    """How many objects a window model found, in all and per category."""

    count: int
    by_category: Mapping[str, int]

    def to_json(self) -> dict[str, Any]:
        """The JSON object."""
        return {"count": self.count, "by_category": dict(self.by_category)}

    @classmethod
    def from_fields(cls, fields: Fields) -> InstancesBlock:
        """Read from the ``instances`` object."""
        counts = fields.nested("by_category")
        return cls(
            count=fields.integer("count"),
            by_category={name: counts.integer(name) for name in counts.data},
        )
