"""Calibration: fitting (temperature, Platt, isotonic), stored form, and the measures."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss

from rcm.metrics import (
    brier_score,
    expected_calibration_error,
    fit_isotonic,
    fit_platt,
    fit_temperature,
    reliability_bins,
)
from rcm.models import Calibration, ModelMeta


def _overconfident(n: int, classes: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Logits of a model three times too confident: the right temperature is near 3."""
    rng = np.random.default_rng(seed)
    truth_logits = rng.normal(size=(n, classes))
    probabilities = np.exp(truth_logits) / np.exp(truth_logits).sum(axis=1, keepdims=True)
    labels = np.array([rng.choice(classes, p=p) for p in probabilities])
    return 3.0 * truth_logits, labels


def test_temperature_recovers_overconfidence_softmax() -> None:
    logits, labels = _overconfident(4000, 4)
    calibration = fit_temperature(logits, labels, multi_label=False)
    assert calibration.method == "temperature"
    assert 2.6 < calibration.temperature < 3.4
    assert calibration.cases == 4000


def test_temperature_multi_label_sigmoid() -> None:
    rng = np.random.default_rng(1)
    true = rng.normal(size=(3000, 3))
    targets = (rng.random(true.shape) < 1 / (1 + np.exp(-true))).astype(float)
    calibration = fit_temperature(0.5 * true, targets, multi_label=True)  # underconfident
    assert 0.4 < calibration.temperature < 0.6


def test_temperature_refuses_bad_shapes_and_nan() -> None:
    with pytest.raises(ValueError, match="shape"):
        fit_temperature(np.zeros((4, 3)), np.zeros(4), multi_label=True)
    with pytest.raises(ValueError, match="finite"):
        fit_temperature(np.full((2, 2), np.nan), np.zeros(2), multi_label=False)


def test_platt_equals_unpenalised_logistic_regression() -> None:
    rng = np.random.default_rng(2)
    scores = rng.random(500)
    truth = rng.random(500) < scores**2
    calibration = fit_platt(scores, truth)
    reference = LogisticRegression(C=np.inf, max_iter=1000).fit(scores[:, None], truth)
    expected = reference.predict_proba(scores[:, None])[:, 1]
    np.testing.assert_allclose(calibration.probability(scores), expected, atol=1e-6)


def test_isotonic_equals_scikit_learn_and_is_monotone() -> None:
    rng = np.random.default_rng(3)
    scores = rng.random(300)
    truth = rng.random(300) < scores
    calibration = fit_isotonic(scores, truth)
    reference = IsotonicRegression(y_min=0, y_max=1, out_of_bounds="clip").fit(scores, truth)
    grid = np.linspace(-0.5, 1.5, 101)
    np.testing.assert_allclose(calibration.probability(grid), reference.predict(grid))
    assert (np.diff(calibration.probability(grid)) >= 0).all()


def test_fits_need_both_classes() -> None:
    with pytest.raises(ValueError, match="positive and negative"):
        fit_platt(np.array([0.1, 0.2]), np.array([True, True]))


def test_brier_and_ece_by_hand() -> None:
    p = np.array([0.1, 0.4, 0.8, 0.9])
    y = np.array([0, 1, 1, 0])
    assert brier_score(p, y) == pytest.approx(brier_score_loss(y, p))
    bins = reliability_bins(p, y, bins=2)  # [0, 0.5): 0.1, 0.4 ; [0.5, 1]: 0.8, 0.9
    assert bins.counts == (2, 2)
    assert bins.mean_probability == pytest.approx((0.25, 0.85))
    assert bins.fraction_positive == pytest.approx((0.5, 0.5))
    # ECE = (2 * |0.5 - 0.25| + 2 * |0.5 - 0.85|) / 4
    assert expected_calibration_error(p, y, bins=2) == pytest.approx(0.3)


def test_probability_one_falls_in_the_last_bin() -> None:
    bins = reliability_bins(np.array([1.0, 0.0]), np.array([1, 0]), bins=10)
    assert bins.counts[-1] == 1 and bins.counts[0] == 1


def test_measures_refuse_out_of_range() -> None:
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        brier_score(np.array([1.2]), np.array([1]))


def test_calibration_round_trips_through_the_model_file_header() -> None:
    calibration = Calibration("isotonic", knots_x=(0.0, 0.5), knots_y=(0.1, 0.9), cases=20)
    meta = ModelMeta(
        architecture="resnet10t",
        classes=("benign", "lesion"),
        positive=("lesion",),
        calibration=calibration.to_dict(),
    )
    back = ModelMeta.from_json(meta.to_json())
    assert back.calibrated == calibration
    assert ModelMeta("resnet10t", ("a", "b"), ("b",)).calibrated is None


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"method": "magic"}, "method"),
        ({"method": "temperature", "temperature": 0}, "positive"),
        ({"method": "platt", "slope": float("nan")}, "finite"),
        ({"method": "isotonic", "knots_x": [0.5, 0.1], "knots_y": [0.1, 0.2]}, "increase"),
        ({"method": "isotonic", "knots_x": [0.1, 0.5], "knots_y": [0.3, 0.2]}, "non-decreasing"),
        ({"method": "platt", "extra": 1}, "unknown"),
    ],
)
def test_bad_calibration_in_a_header_is_refused(fields: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ModelMeta("resnet10t", ("a", "b"), ("b",), calibration=fields)


def test_temperature_scales_logits_and_not_scores() -> None:
    calibration = Calibration("temperature", temperature=2.0)
    np.testing.assert_allclose(calibration.scale_logits(np.array([2.0, -4.0])), [1.0, -2.0])
    with pytest.raises(ValueError, match="logits"):
        calibration.probability(0.3)
