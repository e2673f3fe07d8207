from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from rcm.metrics import coverage_at, coverage_score

maps = arrays(
    np.float32, st.integers(1, 400), elements=st.floats(0, 1, width=32) | st.just(float("nan"))
)


@settings(max_examples=200)
@given(maps, st.floats(0.001, 1.0))
def test_score_is_the_largest_threshold_meeting_the_rule(
    values: np.ndarray, fraction: float
) -> None:
    score = coverage_score(values, fraction)
    assert coverage_at(values, score) >= fraction
    above = np.nextafter(np.float32(score), np.float32(2))
    assert coverage_at(values, float(above)) < fraction


@settings(max_examples=100)
@given(maps, st.floats(0.001, 1.0), st.floats(0, 1))
def test_thresholding_the_score_equals_the_coverage_rule(
    values: np.ndarray, fraction: float, threshold: float
) -> None:
    """So a ROC over scores equals sweeping the threshold with the rule."""
    assert (coverage_score(values, fraction) >= threshold) == (
        coverage_at(values, threshold) >= fraction
    )


def test_examples() -> None:
    values = np.array([0.9, 0.8, 0.1, 0.0] * 25, np.float32)
    assert coverage_score(values, 0.25) == pytest.approx(0.9)
    assert coverage_score(values, 0.5) == pytest.approx(0.8)
    assert coverage_score(np.zeros(0, np.float32), 0.01) == 0.0
    with pytest.raises(ValueError):
        coverage_score(values, 0)
