"""metrics.json of ``rcm evaluate``: the evaluation of a cohort, typed and versioned.

The parts other code reads are typed: the counts, the mosaic AUROC with its
interval (absent with a `note` when the cohort holds one class only), the
checksums of the inputs, the problems found in them, the options and the
versions. The metric blocks (ROC, operating points, readers, comparison,
tile-level, segmentation, detection, explanations...) stay JSON mappings in
`metrics`: the HTML report and people read them, not other stages.

Version history:
    0: rcm 0.1.0 (no ``schema_version``); same fields as version 1.
    1: ``schema_version`` added; later the optional ``calibration`` part (Brier
       score, expected calibration error and reliability bins of the calibrated
       probabilities, or a note saying the outputs are not calibrated). Files
       without it read with None, and an rcm without it keeps it as a metric block.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal, TypeVar, get_args

from rcm.errors import OutputFormatError
from rcm.io import read_document, require, write_document

EVALUATION_VERSION = 1
KIND = "metrics.json"
Severity = Literal["error", "warning"]
TYPED_KEYS = (
    "counts",
    "threshold",
    "coverage_fraction",
    "auroc",
    "calibration",
    "note",
    "inputs",
    "problems",
    "options",
    "versions",
)
_T = TypeVar("_T")
_REQUIRED = ("counts", "inputs", "problems", "options", "versions")


@dataclass(frozen=True)
class Problem:
    """Something wrong with the inputs, for one mosaic (`mosaic_id`) or the whole cohort."""

    severity: Severity
    mosaic_id: str | None
    message: str

    def __post_init__(self) -> None:
        if self.severity not in get_args(Severity):
            raise ValueError(f"severity must be error or warning, got {self.severity!r}")

    def __str__(self) -> str:
        """``severity: mosaic: message``, as the CLI prints it and a job's log records it."""
        where = f"{self.mosaic_id}: " if self.mosaic_id else ""
        return f"{self.severity}: {where}{self.message}"


@dataclass(frozen=True)
class EvaluationCounts:
    """How many mosaics and patients were scored, by truth."""

    mosaics: int
    patients: int
    positive: int
    negative: int


@dataclass(frozen=True)
class Interval:
    """An estimate with its patient-level bootstrap interval."""

    estimate: float
    low: float
    high: float
    level: float
    resamples: int
    skipped: int


@dataclass(frozen=True)
class ReliabilityTable:
    """The reliability diagram's bins: equal-width probability bins from 0 to 1.

    Attributes:
        edges: ``len(counts) + 1`` bin edges.
        counts: Mosaics per bin.
        mean_probability: Mean calibrated probability per bin (None when empty).
        fraction_positive: Share of positive mosaics per bin (None when empty).

    """

    edges: tuple[float, ...]
    counts: tuple[int, ...]
    mean_probability: tuple[float | None, ...]
    fraction_positive: tuple[float | None, ...]

    def __post_init__(self) -> None:
        bins = len(self.counts)
        if len(self.edges) != bins + 1 or {
            len(self.mean_probability),
            len(self.fraction_positive),
        } != {bins}:
            raise ValueError(
                "reliability bins need one more edge than counts, and one value per bin"
            )


@dataclass(frozen=True)
class CalibrationMetrics:
    """How well the outputs' calibrated probabilities match what was observed.

    Attributes:
        calibrated: Whether every output carried a calibrated probability; without
            one no number is given (the mosaic score is a coverage rule, not a probability).
        method: The calibration method the outputs share (None when not calibrated or mixed).
        note: Why there are no numbers, when `calibrated` is false.
        brier: Brier score of the probabilities with its patient-level interval.
        expected_calibration_error: Expected calibration error over the reliability bins.
        reliability: The reliability diagram's bins.

    """

    calibrated: bool
    method: str | None = None
    note: str | None = None
    brier: Interval | None = None
    expected_calibration_error: Interval | None = None
    reliability: ReliabilityTable | None = None

    def __post_init__(self) -> None:
        numbers = (self.brier, self.expected_calibration_error, self.reliability)
        if [item is not None for item in numbers] != [self.calibrated] * len(numbers):
            raise ValueError("calibration has its numbers exactly when it is calibrated")

    def to_json(self) -> dict[str, Any]:
        """The JSON object (``calibration`` in metrics.json)."""
        return {
            "calibrated": self.calibrated,
            "method": self.method,
            "note": self.note,
            "brier": None if self.brier is None else asdict(self.brier),
            "expected_calibration_error": None
            if self.expected_calibration_error is None
            else asdict(self.expected_calibration_error),
            "reliability": None
            if self.reliability is None
            else {k: list(v) for k, v in asdict(self.reliability).items()},
        }

    @classmethod
    def from_json(cls, value: Any) -> CalibrationMetrics:
        """Read `to_json` output back (TypeError naming the field that is wrong)."""
        if not isinstance(value, Mapping):
            raise TypeError("calibration must be an object")
        known = {item.name for item in fields(cls)}
        if set(value) != known:
            raise TypeError(f"calibration must have the fields {', '.join(sorted(known))}")
        if not isinstance(value["calibrated"], bool):
            raise TypeError("calibration.calibrated must be true or false")
        brier, ece = value["brier"], value["expected_calibration_error"]
        return cls(
            calibrated=value["calibrated"],
            method=_string_or_none(value["method"], "calibration.method"),
            note=_string_or_none(value["note"], "calibration.note"),
            brier=None if brier is None else _build(Interval, brier, "calibration.brier"),
            expected_calibration_error=None
            if ece is None
            else _build(Interval, ece, "calibration.expected_calibration_error"),
            reliability=None
            if value["reliability"] is None
            else _reliability(value["reliability"]),
        )


def _reliability(value: Any) -> ReliabilityTable:
    if not isinstance(value, Mapping) or set(value) != {
        "edges",
        "counts",
        "mean_probability",
        "fraction_positive",
    }:
        raise TypeError("calibration.reliability must have edges, counts and the two rates")
    counts = value["counts"]
    if not isinstance(counts, list) or not all(_is_int(c) for c in counts):
        raise TypeError("calibration.reliability.counts must be integers")
    rates = {}
    for name in ("edges", "mean_probability", "fraction_positive"):
        items = value[name]
        optional = name != "edges"
        if not isinstance(items, list) or not all(
            (optional and item is None) or _is_number(item) for item in items
        ):
            raise TypeError(f"calibration.reliability.{name} must be numbers")
        rates[name] = tuple(items)
    return ReliabilityTable(counts=tuple(counts), **rates)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass(frozen=True)
class EvaluationSettings:
    """The options that change the numbers of an evaluation."""

    bootstrap: int
    seed: int
    target_sensitivity: float
    target_specificity: float


@dataclass(frozen=True)
class EvaluationDocument:
    """The content of metrics.json.

    Attributes:
        counts: Mosaics and patients scored.
        threshold: The tile threshold all outputs used (None when they differ).
        coverage_fraction: The coverage rule all outputs used (None when they differ).
        auroc: Mosaic AUROC with its interval; None when `note` says why not.
        note: Why AUROC and operating points are missing.
        calibration: Brier score, calibration error and reliability bins of the
            calibrated probabilities (or why there are none); None in files
            written before rcm measured calibration.
        inputs: sha256 checksums of what was read, by name (``manifest``,
            ``MOSAIC/summary.json``, ``readers``).
        problems: What was wrong with the inputs (warnings when the run went on).
        options: The options that change the numbers.
        versions: Versions of rcm (and libraries) that made the file.
        metrics: Every other metric block, as JSON.

    """

    counts: EvaluationCounts
    threshold: float | None
    coverage_fraction: float | None
    auroc: Interval | None
    inputs: Mapping[str, str]
    problems: tuple[Problem, ...]
    options: EvaluationSettings
    versions: Mapping[str, str]
    note: str | None = None
    calibration: CalibrationMetrics | None = None
    metrics: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        clash = sorted(set(self.metrics) & set(TYPED_KEYS))
        if clash:
            raise ValueError(f"metric blocks may not use the typed keys {', '.join(clash)}")

    @property
    def tile_auroc(self) -> Interval | None:
        """Tile-level AUROC against expert masks, when the cohort had masks and tiles."""
        value = (self.metrics.get("tile_level") or {}).get("auroc")
        return None if value is None else _build(Interval, value, "tile_level.auroc")

    def to_json(self) -> dict[str, Any]:
        """The JSON object of the file (without ``schema_version``)."""
        data: dict[str, Any] = {
            **self.metrics,
            "counts": asdict(self.counts),
            "threshold": self.threshold,
            "coverage_fraction": self.coverage_fraction,
            "auroc": None if self.auroc is None else asdict(self.auroc),
            "inputs": dict(self.inputs),
            "problems": [asdict(problem) for problem in self.problems],
            "options": asdict(self.options),
            "versions": dict(self.versions),
        }
        if self.note is not None:
            data["note"] = self.note
        if self.calibration is not None:
            data["calibration"] = self.calibration.to_json()
        return data

    def write(self, path: str | os.PathLike[str]) -> None:
        """Write metrics.json (atomically, with ``schema_version``)."""
        write_document(path, self.to_json(), EVALUATION_VERSION)

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> EvaluationDocument:
        """Read a metrics.json of this or an earlier rcm.

        Raises:
            OutputFormatError: If the file is unreadable, lacks a part, has a part of
                the wrong shape, or comes from a newer rcm.

        """
        data, _ = read_document(path, KIND, EVALUATION_VERSION)
        require(path, KIND, data, _REQUIRED)
        data.pop("schema_version", None)
        try:
            return cls.from_json(data)
        except (TypeError, ValueError) as error:
            raise OutputFormatError(path, f"{KIND} has a malformed part ({error})") from error

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> EvaluationDocument:
        """The document of a JSON object as `to_json` makes it.

        Raises:
            TypeError: If a typed part has missing, extra or mistyped fields.
            ValueError: If a problem has an unknown severity.

        """
        auroc, calibration = data.get("auroc"), data.get("calibration")
        return cls(
            counts=_build(EvaluationCounts, data["counts"], "counts"),
            threshold=_number_or_none(data.get("threshold"), "threshold"),
            coverage_fraction=_number_or_none(data.get("coverage_fraction"), "coverage_fraction"),
            auroc=None if auroc is None else _build(Interval, auroc, "auroc"),
            inputs=_strings(data["inputs"], "inputs"),
            problems=tuple(_build(Problem, item, "problems[]") for item in _list(data["problems"])),
            options=_build(EvaluationSettings, data["options"], "options"),
            versions=_strings(data["versions"], "versions"),
            note=_string_or_none(data.get("note"), "note"),
            calibration=None if calibration is None else CalibrationMetrics.from_json(calibration),
            metrics={key: value for key, value in data.items() if key not in TYPED_KEYS},
        )


# What each annotation of the typed parts accepts from JSON: ints count as floats,
# bools are neither (json.loads gives bool for true/false, and bool is an int).
_ACCEPTS: dict[str, tuple[type, ...]] = {
    "int": (int,),
    "float": (int, float),
    "str": (str,),
    "str | None": (str, type(None)),
    "Severity": (str,),
}


def _build(cls: type[_T], value: Any, name: str) -> _T:
    """An instance of the frozen dataclass `cls` from a JSON object, every field checked."""
    if not isinstance(value, Mapping):
        raise TypeError(f"{name} must be an object, got {type(value).__name__}")
    names = {item.name: str(item.type) for item in fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(value) - set(names))
    missing = sorted(set(names) - set(value))
    if unknown:
        raise TypeError(f"{name} has unknown field(s) {', '.join(unknown)}")
    if missing:
        raise TypeError(f"{name} lacks {', '.join(missing)}")
    for key, annotation in names.items():
        item = value[key]
        if isinstance(item, bool) or not isinstance(item, _ACCEPTS[annotation]):
            raise TypeError(f"{name}.{key} must be {annotation}, got {item!r}")
    return cls(**value)


def _strings(value: Any, name: str) -> dict[str, str]:
    if not isinstance(value, Mapping) or not all(isinstance(v, str) for v in value.values()):
        raise TypeError(f"{name} must be an object of strings")
    return dict(value)


def _list(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise TypeError(f"problems must be a list, got {type(value).__name__}")
    return value


def _string_or_none(value: Any, name: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise TypeError(f"{name} must be a string or null, got {value!r}")
    return value


def _number_or_none(value: Any, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number or null, got {value!r}")
    return value
