from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score

from rcm.metrics import (
    auroc,
    auroc_one_vs_rest,
    bootstrap_ci,
    confusion,
    delong_covariance,
    delong_test,
    operating_point,
    paired_difference,
    patient_resamples,
    point_at_sensitivity,
    point_at_specificity,
    roc,
    youden_point,
)


@st.composite
def scored_cases(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    n = draw(st.integers(4, 120))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    labels[:2] = [0, 1]
    # Coarse scores, so ties are common.
    scores = np.round(rng.normal(labels * draw(st.floats(0, 2)), 1.0), draw(st.integers(0, 2)))
    return labels, scores


@settings(max_examples=150)
@given(scored_cases())
def test_auroc_equals_scikit_learn_and_delong(case: tuple[np.ndarray, np.ndarray]) -> None:
    labels, scores = case
    reference = roc_auc_score(labels, scores)
    assert auroc(labels, scores) == reference
    assert roc(labels, scores).auc == reference
    aucs, _ = delong_covariance(labels, scores)
    assert abs(aucs[0] - reference) < 1e-12


def _slow_delong_variance(labels: np.ndarray, scores: np.ndarray) -> float:
    """DeLong et al. 1988 by definition, O(m n)."""
    positives, negatives = scores[labels == 1], scores[labels == 0]
    psi = (positives[:, None] > negatives[None, :]) + 0.5 * (
        positives[:, None] == negatives[None, :]
    )
    v10, v01 = psi.mean(axis=1), psi.mean(axis=0)
    return float(np.var(v10, ddof=1) / len(positives) + np.var(v01, ddof=1) / len(negatives))


@settings(max_examples=60)
@given(scored_cases())
def test_delong_variance_matches_the_definition(case: tuple[np.ndarray, np.ndarray]) -> None:
    labels, scores = case
    if min(np.bincount(labels)) < 2:
        return
    _, covariance = delong_covariance(labels, scores)
    assert covariance[0, 0] == pytest.approx(_slow_delong_variance(labels, scores), abs=1e-12)


def test_delong_test() -> None:
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 2, 400)
    good = labels + rng.normal(0, 0.5, 400)
    poor = labels + rng.normal(0, 3.0, 400)
    result = delong_test(labels, good, poor)
    assert result.auc_a > result.auc_b and result.p_value < 0.001
    same = delong_test(labels, good, good)
    assert same.p_value == 1.0 and same.difference == 0


def test_operating_points() -> None:
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    scores = np.array([0.1, 0.2, 0.3, 0.7, 0.4, 0.6, 0.8, 0.9])
    point = operating_point(labels, scores, 0.5)
    assert (point.tp, point.fp, point.tn, point.fn) == (3, 1, 3, 1)
    assert point.sensitivity == 0.75 and point.specificity == 0.75
    assert point.ppv == 0.75 and point.npv == 0.75
    youden = youden_point(labels, scores)
    brute = max(
        operating_point(labels, scores, t).sensitivity
        + operating_point(labels, scores, t).specificity
        for t in scores
    )
    assert youden.sensitivity + youden.specificity == brute
    at_sens = point_at_sensitivity(labels, scores, 1.0)
    assert at_sens.sensitivity == 1.0 and at_sens.specificity == 0.75
    at_spec = point_at_specificity(labels, scores, 1.0)
    assert at_spec.specificity == 1.0 and at_spec.sensitivity == 0.5
    assert point_at_specificity(labels, scores, 1.0).threshold > scores[labels == 0].max()


def test_one_vs_rest_and_confusion() -> None:
    labels = np.array([0, 1, 2, 2, 1, 0])
    probabilities = np.eye(3)[labels] * 0.8 + 0.1
    result = auroc_one_vs_rest(labels, probabilities, ("a", "b", "c"))
    assert result == {"a": 1.0, "b": 1.0, "c": 1.0, "macro": 1.0}
    np.testing.assert_array_equal(confusion(labels, labels, 3), np.diag([2, 2, 2]))
    with pytest.raises(ValueError, match="both positive and negative"):
        auroc(np.ones(4), np.arange(4))


def test_patient_resampling_never_splits_a_patient() -> None:
    groups = np.repeat(np.arange(30), np.random.default_rng(0).integers(1, 5, 30))
    sizes = np.bincount(groups)
    for indices in patient_resamples(groups, 200, seed=1):
        drawn = np.bincount(groups[indices], minlength=30)
        assert np.all(drawn % sizes == 0)  # each patient 0, 1, 2... times, whole
        assert len(np.unique(groups[indices])) <= 30


def _cohort(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(n), 2)
    labels = np.repeat(rng.integers(0, 2, n), 2)
    scores = labels + rng.normal(0, 1.2, 2 * n)
    return labels, scores, groups


def test_bootstrap_contains_the_estimate_and_narrows_with_n() -> None:
    widths = []
    for n in (40, 640):
        labels, scores, groups = _cohort(n, seed=n)
        interval = bootstrap_ci(
            lambda i, labels=labels, scores=scores: auroc(labels[i], scores[i]),
            groups,
            n_resamples=400,
        )
        assert interval.low <= interval.estimate <= interval.high
        assert interval.estimate == auroc(labels, scores)
        widths.append(interval.high - interval.low)
    assert widths[1] < widths[0] / 2


def test_paired_difference() -> None:
    labels, scores, groups = _cohort(300, seed=2)
    noisy = scores + np.random.default_rng(5).normal(0, 3, len(scores))
    interval, p = paired_difference(
        lambda i: auroc(labels[i], scores[i]),
        lambda i: auroc(labels[i], noisy[i]),
        groups,
        n_resamples=400,
    )
    assert interval.low > 0 and p < 0.01
    assert interval.estimate == pytest.approx(auroc(labels, scores) - auroc(labels, noisy))


def test_single_class_resamples_are_skipped() -> None:
    labels = np.array([0, 1])
    interval = bootstrap_ci(
        lambda i: auroc(labels[i], labels[i].astype(float)), np.array([0, 1]), n_resamples=50
    )
    assert interval.skipped > 0 and interval.resamples + interval.skipped == 50


def test_reader_points() -> None:
    from rcm.metrics import reader_points

    truth = {"a": True, "b": True, "c": False, "d": False}
    readers = np.array(["r1"] * 4 + ["r2"] * 4)
    cases = np.array(["a", "b", "c", "d"] * 2)
    calls = np.array([1, 0, 0, 0, 1, 1, 1, 0])
    model = roc(np.array([1, 1, 0, 0]), np.array([0.9, 0.6, 0.7, 0.1]))
    points = {p.reader: p for p in reader_points(readers, cases, calls, truth, model)}
    assert (points["r1"].sensitivity, points["r1"].specificity) == (0.5, 1.0)
    assert (points["r2"].sensitivity, points["r2"].specificity) == (1.0, 0.5)
    assert points["average"].sensitivity == 0.75 and points["average"].specificity == 0.75
    assert points["r1"].model_sensitivity_at_reader_specificity == 0.5  # only 0.9 is above 0.7
    assert points["r2"].model_specificity_at_reader_sensitivity == 0.5


@settings(max_examples=150)
@given(scored_cases())
def test_fast_roc_equals_scikit_learn(case: tuple[np.ndarray, np.ndarray]) -> None:
    from sklearn.metrics import roc_curve

    from rcm.metrics import fast_auroc, roc_points

    labels, scores = case
    fpr, tpr, _ = roc_curve(labels, scores, drop_intermediate=False)
    ours_fpr, ours_tpr = roc_points(labels, scores)
    np.testing.assert_allclose(ours_fpr, fpr, atol=1e-12)
    np.testing.assert_allclose(ours_tpr, tpr, atol=1e-12)
    assert abs(fast_auroc(labels, scores) - roc_auc_score(labels, scores)) < 1e-12
