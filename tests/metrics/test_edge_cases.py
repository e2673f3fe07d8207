"""Numerical edge cases: exact operating points, coverage fractions, NaN, zero-variance DeLong."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from rcm.metrics import (
    auroc,
    coverage_at,
    coverage_score,
    delong_test,
    fast_auroc,
    operating_point,
    point_at_sensitivity,
    point_at_specificity,
    reader_points,
    roc,
    roc_points,
    youden_point,
)

# ---------------------------------------------------------------- operating points


def test_an_exact_specificity_of_a_fifth_is_met() -> None:
    # 1 - 4/5 is 0.19999999999999996 in floating point: every threshold with 1 of the 5
    # negatives below it was missed, and 0.3 (sensitivity 1/3) came out.
    labels = np.array([0, 0, 0, 0, 0, 1, 1, 1])
    scores = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.15, 0.2, 0.6])
    point = point_at_specificity(labels, scores, 0.2)
    assert point.threshold == 0.15 and (point.tn, point.fp) == (1, 4)
    assert point.specificity == 0.2 and point.sensitivity == 1.0


def test_an_exact_sensitivity_is_met() -> None:
    # tpr = 7/10 ... targets that are a share of the positives are met exactly.
    labels = np.array([1] * 10 + [0] * 3)
    scores = np.r_[np.arange(10) / 10, [0.05, 0.45, 0.95]]
    for k in range(11):
        point = point_at_sensitivity(labels, scores, k / 10)
        assert point.tp == k, k


@st.composite
def scored(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    n = draw(st.integers(2, 60))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    labels = rng.integers(0, 2, n)
    labels[:2] = [0, 1]
    scores = np.round(rng.normal(labels * draw(st.floats(0, 2)), 1.0), draw(st.integers(0, 2)))
    return labels, scores


def _candidates(scores: np.ndarray) -> list[float]:
    return [*np.unique(scores).tolist(), float(np.nextafter(scores.max(), np.inf))]


@settings(max_examples=150, deadline=None)
@given(scored(), st.data())
def test_points_at_a_target_are_the_best_that_meet_it_exactly(
    case: tuple[np.ndarray, np.ndarray], data: st.DataObject
) -> None:
    labels, scores = case
    negatives, positives = int((labels == 0).sum()), int((labels == 1).sum())
    points = [operating_point(labels, scores, t) for t in _candidates(scores)]
    target = data.draw(st.integers(0, negatives)) / negatives  # a specificity that occurs
    found = point_at_specificity(labels, scores, target)
    assert found.tn / negatives >= target
    assert found.sensitivity == max(p.sensitivity for p in points if p.tn / negatives >= target)
    target = data.draw(st.integers(0, positives)) / positives
    found = point_at_sensitivity(labels, scores, target)
    assert found.tp / positives >= target
    assert found.specificity == max(p.specificity for p in points if p.tp / positives >= target)
    # Youden's J compared in counts too: ties are exact, the highest threshold wins.
    youden = youden_point(labels, scores)
    best = max(p.tp * negatives - p.fp * positives for p in points)
    assert youden.tp * negatives - youden.fp * positives == best


def test_reader_comparison_meets_an_equal_specificity() -> None:
    labels = np.array([0, 0, 0, 0, 0, 1, 1, 1])
    scores = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.15, 0.2, 0.6])
    cases = np.array([f"c{i}" for i in range(8)])
    truth = {case: bool(label) for case, label in zip(cases, labels, strict=True)}
    calls = np.array([0, 1, 1, 1, 1, 1, 1, 1], bool)  # specificity 1/5, sensitivity 1
    (point,) = reader_points(np.array(["r"] * 8), cases, calls, truth, roc(labels, scores))
    assert point.specificity == 0.2
    # The model's threshold at 0.15 has specificity 1/5 too (at 0.3 it finds 1 of 3).
    assert point.model_sensitivity_at_reader_specificity == 1.0


# ---------------------------------------------------------------- coverage


def test_a_tiny_fraction_needs_one_value() -> None:
    values = np.array([0.2, 0.9, 0.5], np.float32)
    assert coverage_score(values, 1e-12) == pytest.approx(0.9)
    assert coverage_score(values, 5e-324) == pytest.approx(0.9)


def test_a_fraction_just_above_a_third_needs_two_of_three() -> None:
    values = np.array([0.2, 0.9, 0.5], np.float32)
    fraction = 1 / 3 + 1e-10
    score = coverage_score(values, fraction)
    assert score == pytest.approx(0.5) and coverage_at(values, score) >= fraction


def _fractions() -> st.SearchStrategy[float]:
    """Any fraction in (0, 1], and fractions within a hair of k / n."""
    near = st.builds(
        lambda k, n, eps: min(1.0, max(5e-324, k / n + eps)),
        st.integers(1, 50),
        st.integers(1, 50),
        st.sampled_from([0.0, 1e-16, -1e-16, 1e-12, -1e-12, 1e-10, -1e-10, 1e-9, -1e-9]),
    ).filter(lambda f: 0 < f <= 1)
    return st.floats(0, 1, exclude_min=True) | near


# Probabilities on tissue: coverage refuses NaN (a model's bad output), tested with rcm.infer.
maps = arrays(np.float32, st.integers(1, 60), elements=st.floats(0, 1, width=32))


@settings(max_examples=300, deadline=None)
@given(maps, _fractions())
def test_the_rule_holds_at_the_score_and_not_above_it(values: np.ndarray, fraction: float) -> None:
    score = coverage_score(values, fraction)
    assert coverage_at(values, score) >= fraction
    above = np.nextafter(np.float32(score), np.float32(2))
    assert coverage_at(values, float(above)) < fraction


# ---------------------------------------------------------------- NaN scores


@pytest.mark.parametrize("function", [fast_auroc, roc_points, auroc, roc])
def test_nan_scores_are_refused(function: object) -> None:
    labels = np.array([0, 1, 0, 1])
    scores = np.array([0.1, np.nan, 0.3, 0.8])
    with pytest.raises(ValueError, match=r"scores hold NaN \(1 of 4\)"):
        function(labels, scores)  # type: ignore[operator]


# ---------------------------------------------------------------- DeLong


def test_delong_at_zero_variance() -> None:
    labels = np.array([0, 0, 1, 1])
    perfect = np.array([0.0, 0.1, 0.9, 1.0])  # AUROC 1, every structural component 1
    constant = np.full(4, 0.5)  # AUROC 0.5, every component 0.5
    better = delong_test(labels, perfect, constant)
    assert better.difference == 0.5 and better.z == math.inf and better.p_value == 0.0
    worse = delong_test(labels, constant, perfect)
    assert worse.z == -math.inf and worse.p_value == 0.0
    same = delong_test(labels, perfect, perfect[::-1][::-1].copy())
    assert same.z == 0.0 and same.p_value == 1.0
