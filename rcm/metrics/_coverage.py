"""The mosaic decision rule, as a threshold test and as a continuous score.

A mosaic is suspicious when suspicious tissue covers at least a given fraction
of its tissue. As a continuous score: the largest threshold t at which the share of tissue with
probability >= t is still at least the fraction. Then ``score >= t`` exactly
when the coverage at ``t`` reaches the fraction, so a ROC over scores equals
sweeping the threshold with the coverage rule.
"""

from __future__ import annotations

import math

import numpy as np


def _refuse_nan(values: np.ndarray) -> None:
    # NaN here is a model's bad output or an unclassified pixel: the caller says which
    # (rcm.infer counts unclassified tissue as 0); never silently "not suspicious".
    if np.isnan(values).any():
        raise ValueError("coverage of values holding NaN: replace unclassified values first")


def coverage_at(values: np.ndarray, threshold: float) -> float:
    """Share of `values` (probabilities on tissue, no NaN) at or above `threshold`."""
    _refuse_nan(values)
    if values.size == 0:
        return 0.0
    exact = values.astype(np.float64)  # compare at full precision
    return float(np.count_nonzero(exact >= threshold) / values.size)


def coverage_score(values: np.ndarray, fraction: float) -> float:
    """The largest t with ``coverage_at(values, t) >= fraction`` (0 when there are no values)."""
    _refuse_nan(values)
    if not 0 < fraction <= 1:
        raise ValueError(f"coverage fraction must be in (0, 1], got {fraction}")
    if values.size == 0:
        return 0.0
    needed = _needed(fraction, values.size)
    flat = values.ravel()
    # The needed-th largest value: np.partition keeps this linear, not a full sort.
    return float(np.partition(flat, flat.size - needed)[flat.size - needed])


def _needed(fraction: float, size: int) -> int:
    """The fewest values k with ``k / size >= fraction``, the very test of `coverage_at`.

    ``ceil(fraction * size)`` can be one off either way after rounding (1/3 + 1e-10
    of 3 values needs 2; a fraction of 1e-12 needs 1), so it is corrected against
    the comparison itself.
    """
    needed = min(max(math.ceil(fraction * size), 1), size)
    while needed < size and needed / size < fraction:
        needed += 1
    while needed > 1 and (needed - 1) / size >= fraction:
        needed -= 1
    return needed
