from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from rcm.metrics import coverage_at, coverage_score

maps = arrays(np.float32, st.integers(1, 400), elements=st.floats(0, 1, width=32))


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


def test_roc_over_scores_equals_sweeping_the_rule_over_maps() -> None:
    """Mosaic-level: ROC from the continuous score == sweeping the threshold with the 1% rule."""
    from sklearn.metrics import roc_curve

    rng = np.random.default_rng(0)
    maps, tissues, labels = [], [], []
    for index in range(40):
        heat = rng.beta(1, 6, (60, 60)).astype(np.float32)
        if index % 2:
            heat[10:20, 10:20] = rng.uniform(0.4, 1.0)  # a suspicious patch
        heat[rng.uniform(size=heat.shape) < 0.05] = 0.0  # unclassified tiles count as 0
        maps.append(heat)
        tissues.append(rng.uniform(size=heat.shape) < 0.8)
        labels.append(index % 2)
    scores = np.array([coverage_score(m[t], 0.01) for m, t in zip(maps, tissues, strict=True)])
    fpr, tpr, thresholds = roc_curve(labels, scores, drop_intermediate=False)
    labels_array = np.array(labels, bool)
    for threshold, expected_fpr, expected_tpr in zip(thresholds[1:], fpr[1:], tpr[1:], strict=True):
        called = np.array(
            [coverage_at(m[t], threshold) >= 0.01 for m, t in zip(maps, tissues, strict=True)]
        )
        assert called[labels_array].mean() == expected_tpr
        assert called[~labels_array].mean() == expected_fpr
