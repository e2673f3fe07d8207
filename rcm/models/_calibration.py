"""Calibration: how a model's raw output becomes a probability, stored in its model file.

A model gives a score, not a diagnosis; calibration maps the score to a
probability that matches observed frequencies on the validation split.

- ``temperature`` (photo classifiers): the logits are divided by one fitted
  temperature before the softmax (single-label) or the sigmoid (multi-label),
  which changes no ranking and so no AUROC.
- ``platt`` (mosaic scores): ``p = sigmoid(slope * score + intercept)``.
- ``isotonic`` (mosaic scores): a non-decreasing step function through the
  fitted knots, linearly interpolated between them and constant beyond them.

A mosaic score is the coverage rule as a number, so its meaning depends on the
coverage fraction it was computed at: a mosaic calibration records that
fraction (`coverage_fraction`) and holds only for scores computed at it.

Plain data (numpy only), checked on construction; the fitting lives in
`rcm.metrics` (scipy, scikit-learn).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal, get_args

import numpy as np

CalibrationMethod = Literal["temperature", "platt", "isotonic"]
METHODS: tuple[str, ...] = get_args(CalibrationMethod)
CALIBRATION_METHODS = METHODS  # the name the package exports


@dataclass(frozen=True)
class Calibration:
    """A fitted calibration of a model's output.

    Attributes:
        method: ``temperature``, ``platt`` or ``isotonic``.
        temperature: Logits are divided by it (``temperature`` only; > 0).
        slope: Platt slope.
        intercept: Platt intercept.
        knots_x: Isotonic knots' scores, increasing.
        knots_y: Isotonic knots' probabilities, non-decreasing, in [0, 1].
        cases: How many validation cases it was fitted on.
        coverage_fraction: The coverage fraction of the mosaic scores it was
            fitted on (``platt``, ``isotonic``); None when it does not depend on one.

    Raises:
        ValueError: Naming the field that breaks its rule.

    """

    method: CalibrationMethod
    temperature: float = 1.0
    slope: float = 1.0
    intercept: float = 0.0
    knots_x: tuple[float, ...] = ()
    knots_y: tuple[float, ...] = ()
    cases: int = 0
    coverage_fraction: float | None = None

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"calibration method must be one of {', '.join(METHODS)}")
        for name in ("temperature", "slope", "intercept"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"calibration {name} must be a number, got {value!r}")
            if not math.isfinite(value):
                raise ValueError(f"calibration {name} must be finite, got {value!r}")
            object.__setattr__(self, name, float(value))
        if self.temperature <= 0:
            raise ValueError(f"calibration temperature must be positive, got {self.temperature}")
        if isinstance(self.cases, bool) or not isinstance(self.cases, int) or self.cases < 0:
            raise ValueError(f"calibration cases must be a count, got {self.cases!r}")
        fraction = self.coverage_fraction
        if fraction is not None:
            ok = isinstance(fraction, int | float) and not isinstance(fraction, bool)
            if not ok or not 0 < fraction <= 1:
                raise ValueError(
                    f"calibration coverage_fraction must be in (0, 1], got {fraction!r}"
                )
            object.__setattr__(self, "coverage_fraction", float(fraction))
        xs, ys = _floats("knots_x", self.knots_x), _floats("knots_y", self.knots_y)
        object.__setattr__(self, "knots_x", xs)
        object.__setattr__(self, "knots_y", ys)
        if self.method == "isotonic":
            if len(xs) < 1 or len(xs) != len(ys):
                raise ValueError("isotonic calibration needs as many knots_y as knots_x (>= 1)")
            if any(b <= a for a, b in itertools.pairwise(xs)):
                raise ValueError("isotonic knots_x must increase")
            if any(b < a for a, b in itertools.pairwise(ys)) or not all(0 <= y <= 1 for y in ys):
                raise ValueError("isotonic knots_y must be non-decreasing probabilities")

    def scale_logits(self, logits: np.ndarray) -> np.ndarray:
        """Logits divided by the temperature (temperature calibration only)."""
        if self.method != "temperature":
            raise ValueError(f"a {self.method} calibration maps scores, not logits")
        return np.asarray(logits, dtype=np.float64) / self.temperature

    def probability(self, score: np.ndarray | float) -> np.ndarray:
        """The calibrated probability of scores (``platt`` or ``isotonic``)."""
        values = np.asarray(score, dtype=np.float64)
        if self.method == "platt":
            return 1.0 / (1.0 + np.exp(-(self.slope * values + self.intercept)))
        if self.method == "isotonic":
            return np.interp(values, np.asarray(self.knots_x), np.asarray(self.knots_y))
        raise ValueError("a temperature calibration maps logits: use scale_logits")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (the model file's ``calibration`` entry; no coverage_fraction when None)."""
        data = asdict(self)
        data["knots_x"], data["knots_y"] = list(self.knots_x), list(self.knots_y)
        if self.coverage_fraction is None:
            del data["coverage_fraction"]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Calibration:
        """Read `to_dict` output back.

        Raises:
            ValueError: On unknown or missing fields or a broken rule.

        """
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown calibration field {unknown[0]}")
        if "method" not in data:
            raise ValueError("calibration lacks its method")
        return cls(**dict(data))


def _floats(name: str, values: Any) -> tuple[float, ...]:
    if not isinstance(values, list | tuple):
        raise ValueError(f"calibration {name} must be a list of numbers")
    ok = all(
        isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in values
    )
    if not ok:
        raise ValueError(f"calibration {name} must be finite numbers")
    return tuple(float(v) for v in values)
