"""Confidence intervals by bootstrap resampling of patients, not images.

Mosaics of one patient are correlated; resampling them independently makes
intervals too narrow. Here whole patients are drawn with replacement and every
case of a drawn patient comes along (a cluster bootstrap).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

Statistic = Callable[[np.ndarray], float]


@dataclass(frozen=True)
class Interval:
    """A point estimate with a percentile bootstrap interval.

    Attributes:
        estimate: The statistic on all cases.
        low: Lower bound.
        high: Upper bound.
        level: Coverage of the interval (0.95 for 95%).
        resamples: Resamples that gave a value.
        skipped: Resamples where the statistic was undefined (e.g. one class only).

    """

    estimate: float
    low: float
    high: float
    level: float
    resamples: int
    skipped: int

    def as_dict(self) -> dict[str, float]:
        return {
            "estimate": self.estimate,
            "low": self.low,
            "high": self.high,
            "level": self.level,
            "resamples": self.resamples,
            "skipped": self.skipped,
        }


def patient_resamples(groups: np.ndarray, n_resamples: int, seed: int) -> Iterator[np.ndarray]:
    """Case indices of each resample: patients drawn with replacement, all their cases kept."""
    _, inverse = np.unique(np.asarray(groups), return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    counts = np.bincount(inverse)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rng = np.random.default_rng(seed)
    for _ in range(n_resamples):
        chosen = rng.integers(0, len(counts), len(counts))
        sizes = counts[chosen]
        # Positions of every case of every chosen patient, without a Python loop.
        within = np.arange(sizes.sum()) - np.repeat(np.cumsum(sizes) - sizes, sizes)
        yield order[np.repeat(starts[chosen], sizes) + within]


def bootstrap_ci(
    statistic: Statistic,
    groups: np.ndarray,
    *,
    n_resamples: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> Interval:
    """Percentile interval of `statistic` (a function of case indices) over patient resamples."""
    estimate = statistic(np.arange(len(groups)))
    values, skipped = _resampled(statistic, groups, n_resamples, seed)
    return _interval(estimate, values, level, skipped)


def paired_difference(
    statistic_a: Statistic,
    statistic_b: Statistic,
    groups: np.ndarray,
    *,
    n_resamples: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[Interval, float]:
    """Interval of ``a - b`` on the same resamples, and a two-sided bootstrap p-value."""

    def difference(indices: np.ndarray) -> float:
        return statistic_a(indices) - statistic_b(indices)

    estimate = difference(np.arange(len(groups)))
    values, skipped = _resampled(difference, groups, n_resamples, seed)
    interval = _interval(estimate, values, level, skipped)
    if not len(values):
        return interval, float("nan")
    tail = min(float(np.mean(values <= 0)), float(np.mean(values >= 0)))
    return interval, min(1.0, 2 * tail)


def _resampled(
    statistic: Statistic, groups: np.ndarray, n_resamples: int, seed: int
) -> tuple[np.ndarray, int]:
    values, skipped = [], 0
    for indices in patient_resamples(groups, n_resamples, seed):
        try:
            values.append(statistic(indices))
        except ValueError:  # e.g. a resample with one class only
            skipped += 1
    return np.asarray(values, dtype=np.float64), skipped


def _interval(estimate: float, values: np.ndarray, level: float, skipped: int) -> Interval:
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if not len(values):
        return Interval(estimate, float("nan"), float("nan"), level, 0, skipped)
    low, high = np.percentile(values, [50 * (1 - level), 50 * (1 + level)])
    return Interval(float(estimate), float(low), float(high), level, len(values), skipped)
