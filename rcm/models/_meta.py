"""ModelMeta: what a model file says about its network, as plain checked data.

The JSON form is the ``rcm`` entry of a model file's header (`FORMAT`); this
module writes and reads it and imports no deep-learning library. Every field is
checked for type and range when a description is built or read, so a damaged or
hand-edited header is refused with the field's name before anything runs.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from rcm.models._calibration import Calibration
from rcm.models._task import MOSAIC_TASKS, Task

FORMAT = "rcm-model/1"
# Smallest and largest input edge a model may take: below 8 px no network sees
# structure and tiles of a mosaic number in the millions; above, one window's
# batch no longer fits any device.
TILE_PX_RANGE = (8, 8192)


@dataclass(frozen=True)
class ModelMeta:
    """What a model needs to be rebuilt and fed correctly.

    Attributes:
        architecture: timm architecture name or registered alias for classifiers;
            ``maskrcnn``, ``fasterrcnn`` or ``detectron2`` for detectors; ``fpn`` or
            ``unet`` for segmenters.
        classes: Class names in output order. Detectors list object categories
            (no background); segmenters list every pixel class, background first.
        positive: Classes whose probabilities add up to the "suspicious" score.
        in_chans: Input channels (1 for grayscale RCM).
        tile_px: Input edge in pixels (the window edge for detectors and segmenters),
            from 8 to 8192.
        um_per_px: Pixel size the model was trained at; None when unknown.
        mean: Per-channel mean subtracted from inputs scaled to [0, 1].
        std: Per-channel standard deviation inputs are divided by.
        task: Classifier (tile labels), detector (boxes, masks) or segmenter
            (per-pixel classes); a task's string is accepted and converted.
        settings: Architecture settings needed to rebuild the network (a detector's
            backbone, a segmenter's encoder, a Detectron2 config as YAML text).
        provenance: Free-form facts about training (data, split, config, versions).
        calibration: The fitted `Calibration` of the model's output as a mapping
            (`Calibration.to_dict`), or None when it is not calibrated.

    Raises:
        ValueError: On construction, naming the first field of the wrong type or
            out of range (a bool is not a number, lists of names are not text).

    """

    architecture: str
    classes: tuple[str, ...]
    positive: tuple[str, ...]
    in_chans: int = 1
    tile_px: int = 224
    um_per_px: float | None = None
    mean: tuple[float, ...] = (0.5,)
    std: tuple[float, ...] = (0.25,)
    task: Task = Task.CLASSIFIER
    settings: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    calibration: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        low, high = TILE_PX_RANGE
        checked = {
            "architecture": _name("architecture", self.architecture),
            "classes": _names("classes", self.classes),
            "positive": _names("positive", self.positive),
            "in_chans": _integer("in_chans", self.in_chans, (1, 3), "1 or 3"),
            "tile_px": _integer(
                "tile_px", self.tile_px, range(low, high + 1), f"an integer from {low} to {high}"
            ),
            "um_per_px": None
            if self.um_per_px is None
            else _number("um_per_px", self.um_per_px, "a finite positive number", positive=True),
            "mean": _numbers("mean", self.mean, "finite numbers", positive=False),
            "std": _numbers("std", self.std, "finite positive numbers", positive=True),
            "task": Task.parse(self.task),
            "settings": _mapping("settings", self.settings),
            "provenance": _mapping("provenance", self.provenance),
            "calibration": None if self.calibration is None else _calibration(self.calibration),
        }
        for name, value in checked.items():
            object.__setattr__(self, name, value)
        self._check_together()

    def _check_together(self) -> None:
        least = 1 if self.task in (Task.DETECTOR, Task.PHOTO_DETECTOR, Task.PHOTO_CLASSIFIER) else 2
        if len(self.classes) < least or len(set(self.classes)) != len(self.classes):
            raise ValueError(
                f"a {self.task} needs {least} or more distinct classes, got {_shown(self.classes)}"
            )
        if len(set(self.positive)) != len(self.positive):
            raise ValueError(f"positive classes must be distinct, got {_shown(self.positive)}")
        if not self.positive or set(self.positive) - set(self.classes):
            among, got = _shown(self.classes), _shown(self.positive)
            raise ValueError(f"positive classes must be among {among}, got {got}")
        if len(self.mean) != self.in_chans or len(self.std) != self.in_chans:
            raise ValueError(
                f"mean and std need one value per input channel (in_chans {self.in_chans})"
            )
        method = None if self.calibration is None else self.calibration["method"]
        if self.task in MOSAIC_TASKS and method not in (None, "platt", "isotonic"):
            # A mosaic model's output is a coverage score, not logits.
            raise ValueError(f"a {self.task} is calibrated by platt or isotonic, not {method}")

    @property
    def calibrated(self) -> Calibration | None:
        """The model's `Calibration`, or None when it is not calibrated."""
        return None if self.calibration is None else Calibration.from_dict(self.calibration)

    @property
    def positive_indices(self) -> tuple[int, ...]:
        return tuple(self.classes.index(name) for name in self.positive)

    def to_json(self) -> str:
        """The header entry of a model file (keys sorted, the task as its string).

        An uncalibrated model has no ``calibration`` entry, so its header is the
        one rcm 0.1.0 wrote.
        """
        data = {"format": FORMAT, **asdict(self), "task": self.task.value}
        if self.calibration is None:
            del data["calibration"]
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ModelMeta:
        """Read `to_json` output back.

        Raises:
            ValueError: If the text is not an `FORMAT` description, lacks a field,
                has one it does not know, or breaks a rule (the message names the field).

        """
        try:
            data = json.loads(text)
        except (TypeError, ValueError):
            data = None
        if not isinstance(data, dict) or data.pop("format", None) != FORMAT:
            raise ValueError(f"not an {FORMAT} model description")
        known = {item.name for item in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown field {unknown[0]} in the model description")
        missing = [name for name in ("architecture", "classes", "positive") if name not in data]
        if missing:
            raise ValueError(f"the model description lacks the field {missing[0]}")
        return cls(**data)


def _shown(value: Any) -> str:
    """`value` as it reads in a model file's JSON (true, NaN, "0.5"), cut short."""
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _name(name: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} must be a non-empty name, got {_shown(value)}")
    return value


def _names(name: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"{name} must be a list of names, got {_shown(value)}")
    if not all(isinstance(item, str) and item.strip() for item in value):
        raise ValueError(f"{name} must be non-empty names, got {_shown(value)}")
    return tuple(value)


def _integer(name: str, value: Any, allowed: range | tuple[int, ...], expected: str) -> int:
    # bool is an int in Python; `true` in a header is not a count.
    if isinstance(value, bool) or not isinstance(value, int) or value not in allowed:
        raise ValueError(f"{name} must be {expected}, got {_shown(value)}")
    return value


def _number(name: str, value: Any, expected: str, *, positive: bool) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok or not math.isfinite(value) or (positive and value <= 0):
        raise ValueError(f"{name} must be {expected}, got {_shown(value)}")
    return float(value)


def _numbers(name: str, value: Any, expected: str, *, positive: bool) -> tuple[float, ...]:
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"{name} must be a list of numbers, got {_shown(value)}")
    try:
        return tuple(_number(name, item, expected, positive=positive) for item in value)
    except ValueError:
        raise ValueError(f"{name} must be {expected}, got {_shown(value)}") from None


def _calibration(value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"calibration must be a mapping, got {_shown(value)}")
    try:
        return Calibration.from_dict(value).to_dict()
    except (TypeError, ValueError) as error:
        raise ValueError(f"calibration: {error}") from None


def _mapping(name: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping) or not all(isinstance(key, str) for key in value):
        raise ValueError(f"{name} must be a mapping of names to values, got {_shown(value)}")
    return dict(value)
