"""Fitting calibrations and measuring how well probabilities are calibrated.

Fitting: temperature scaling of logits (photo classifiers) by minimising the
validation negative log-likelihood over one temperature (scipy's bounded
scalar search, on log T); Platt scaling (scikit-learn's logistic regression,
unpenalised) and isotonic regression (scikit-learn) of a mosaic score.

Measuring: Brier score, expected calibration error over equal-width bins and
the reliability diagram's bins (the fraction positive against the mean
probability per bin).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rcm.models import Calibration

RELIABILITY_BINS = 10
_LOG_T_RANGE = (-4.0, 4.0)  # temperatures from 0.018 to 55


def fit_temperature(logits: np.ndarray, targets: np.ndarray, *, multi_label: bool) -> Calibration:
    """The temperature that minimises the validation negative log-likelihood.

    Args:
        logits: ``(N, C)`` raw outputs.
        targets: ``(N, C)`` 0/1 per category when `multi_label` (sigmoid per
            category), else ``(N,)`` class indices (softmax).
        multi_label: Sigmoid per category, else softmax.

    Raises:
        ValueError: Without cases, with non-finite logits or mismatched shapes.

    """
    from scipy.optimize import minimize_scalar

    z = np.asarray(logits, dtype=np.float64)
    if z.ndim != 2 or len(z) == 0 or not np.isfinite(z).all():
        raise ValueError("temperature scaling needs finite (N, C) logits of at least one case")
    y = np.asarray(targets)
    expected = z.shape if multi_label else z.shape[:1]
    if y.shape != expected:
        raise ValueError(f"targets must have shape {expected}, got {y.shape}")

    def loss(log_t: float) -> float:
        scaled = z / np.exp(log_t)
        if multi_label:  # binary cross-entropy with logits, summed over categories
            return float(np.mean(np.logaddexp(0.0, scaled) - y * scaled))
        top = scaled.max(axis=1, keepdims=True)
        log_norm = top[:, 0] + np.log(np.exp(scaled - top).sum(axis=1))
        return float(np.mean(log_norm - scaled[np.arange(len(y)), y.astype(int)]))

    best = minimize_scalar(loss, bounds=_LOG_T_RANGE, method="bounded", options={"xatol": 1e-6})
    return Calibration("temperature", temperature=float(np.exp(best.x)), cases=len(z))


def fit_platt(scores: np.ndarray, truth: np.ndarray) -> Calibration:
    """Platt scaling of a score: an unpenalised logistic regression on it.

    Raises:
        ValueError: Unless both classes are present and the scores are finite.

    """
    from sklearn.linear_model import LogisticRegression

    x, y = _scores_and_truth(scores, truth)
    model = LogisticRegression(C=np.inf, solver="lbfgs", max_iter=1000)
    model.fit(x[:, None], y)
    return Calibration(
        "platt", slope=float(model.coef_[0, 0]), intercept=float(model.intercept_[0]), cases=len(x)
    )


def fit_isotonic(scores: np.ndarray, truth: np.ndarray) -> Calibration:
    """Isotonic regression of the truth on a score (non-decreasing, clipped beyond the knots).

    Raises:
        ValueError: Unless both classes are present and the scores are finite.

    """
    from sklearn.isotonic import IsotonicRegression

    x, y = _scores_and_truth(scores, truth)
    model = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(x, y)
    knots_x = tuple(float(v) for v in model.X_thresholds_)
    knots_y = tuple(float(v) for v in model.y_thresholds_)
    return Calibration("isotonic", knots_x=knots_x, knots_y=knots_y, cases=len(x))


def brier_score(probability: np.ndarray, truth: np.ndarray) -> float:
    """Mean squared difference between probability and outcome (0 is perfect)."""
    p, y = _probabilities_and_truth(probability, truth)
    return float(np.mean((p - y) ** 2))


@dataclass(frozen=True)
class ReliabilityBins:
    """The reliability diagram: equal-width probability bins (empty bins have count 0).

    Attributes:
        edges: ``bins + 1`` edges from 0 to 1.
        counts: Cases per bin.
        mean_probability: Mean predicted probability per bin (NaN when empty).
        fraction_positive: Observed fraction of positives per bin (NaN when empty).

    """

    edges: tuple[float, ...]
    counts: tuple[int, ...]
    mean_probability: tuple[float, ...]
    fraction_positive: tuple[float, ...]

    @property
    def expected_calibration_error(self) -> float:
        """Case-weighted mean of |fraction positive - mean probability| over the bins."""
        total = sum(self.counts)
        gaps = [
            count * abs(f - p)
            for count, f, p in zip(
                self.counts, self.fraction_positive, self.mean_probability, strict=True
            )
            if count
        ]
        return float(sum(gaps) / total) if total else float("nan")


def reliability_bins(
    probability: np.ndarray, truth: np.ndarray, *, bins: int = RELIABILITY_BINS
) -> ReliabilityBins:
    """Equal-width bins of the probabilities with their observed positive fractions.

    A probability of exactly 1 falls in the last bin.
    """
    p, y = _probabilities_and_truth(probability, truth)
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, bins - 1)
    counts = np.bincount(index, minlength=bins)
    sums = np.bincount(index, weights=p, minlength=bins)
    positives = np.bincount(index, weights=y, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_p, fraction = sums / counts, positives / counts
    return ReliabilityBins(
        tuple(float(e) for e in edges),
        tuple(int(c) for c in counts),
        tuple(float(v) for v in mean_p),
        tuple(float(v) for v in fraction),
    )


def expected_calibration_error(
    probability: np.ndarray, truth: np.ndarray, *, bins: int = RELIABILITY_BINS
) -> float:
    """ECE over equal-width bins (see `ReliabilityBins.expected_calibration_error`)."""
    return reliability_bins(probability, truth, bins=bins).expected_calibration_error


def _scores_and_truth(scores: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(scores, dtype=np.float64).ravel()
    y = np.asarray(truth).astype(bool).ravel()
    if x.shape != y.shape or not np.isfinite(x).all():
        raise ValueError("calibration needs one finite score per case")
    if y.all() or not y.any():
        raise ValueError("calibration needs positive and negative cases")
    return x, y.astype(np.float64)


def _probabilities_and_truth(
    probability: np.ndarray, truth: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(probability, dtype=np.float64).ravel()
    y = np.asarray(truth).astype(bool).ravel().astype(np.float64)
    if p.shape != y.shape or len(p) == 0:
        raise ValueError("need one probability per case, and at least one case")
    if not np.isfinite(p).all() or (p < 0).any() or (p > 1).any():
        raise ValueError("probabilities must be finite and in [0, 1]")
    return p, y
