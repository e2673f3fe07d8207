"""Binary and one-vs-rest classification metrics: ROC, AUROC, operating points.

The arithmetic is scikit-learn's; this module adds what clinicians ask for on
top of it: sensitivity, specificity and predictive values at a threshold, the
Youden point, and the best point at a target sensitivity or specificity.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.metrics import confusion_matrix, roc_auc_score, roc_curve


@dataclass(frozen=True)
class RocCurve:
    """A ROC curve: false and true positive rates per threshold, and its area."""

    fpr: np.ndarray
    tpr: np.ndarray
    thresholds: np.ndarray
    auc: float


@dataclass(frozen=True)
class OperatingPoint:
    """Counts and rates when cases with ``score >= threshold`` are called positive."""

    threshold: float
    tp: int
    fp: int
    tn: int
    fn: int

    @property
    def sensitivity(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else float("nan")

    @property
    def specificity(self) -> float:
        return self.tn / (self.tn + self.fp) if self.tn + self.fp else float("nan")

    @property
    def ppv(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else float("nan")

    @property
    def npv(self) -> float:
        return self.tn / (self.tn + self.fn) if self.tn + self.fn else float("nan")

    def as_dict(self) -> dict[str, float]:
        return {
            "threshold": self.threshold,
            "tp": self.tp,
            "fp": self.fp,
            "tn": self.tn,
            "fn": self.fn,
            "sensitivity": self.sensitivity,
            "specificity": self.specificity,
            "ppv": self.ppv,
            "npv": self.npv,
        }


def _binary(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    truth = np.asarray(labels).astype(bool)
    values = np.asarray(scores, dtype=np.float64)
    if truth.shape != values.shape or truth.ndim != 1:
        raise ValueError("labels and scores must be 1-D and of the same length")
    if truth.all() or not truth.any():
        raise ValueError("ROC analysis needs both positive and negative cases")
    return truth, values


def roc(labels: np.ndarray, scores: np.ndarray) -> RocCurve:
    """The ROC curve of `scores` against binary `labels` (1 = positive)."""
    truth, values = _binary(labels, scores)
    fpr, tpr, thresholds = roc_curve(truth, values, drop_intermediate=False)
    return RocCurve(fpr, tpr, thresholds, float(roc_auc_score(truth, values)))


def auroc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve."""
    truth, values = _binary(labels, scores)
    return float(roc_auc_score(truth, values))


def roc_points(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """False and true positive rates at every distinct threshold, highest first, from (0, 0).

    The same points as scikit-learn's ``roc_curve(drop_intermediate=False)``, without its
    input validation, which costs more than the arithmetic when a bootstrap calls it
    thousands of times.
    """
    truth, values = _binary(labels, scores)
    order = np.argsort(-values, kind="mergesort")
    ordered = values[order]
    last_of_each = np.r_[np.flatnonzero(np.diff(ordered)), len(ordered) - 1]
    true_positives = np.cumsum(truth[order])[last_of_each]
    false_positives = last_of_each + 1 - true_positives
    fpr = np.r_[0.0, false_positives / false_positives[-1]]
    tpr = np.r_[0.0, true_positives / true_positives[-1]]
    return fpr, tpr


def fast_auroc(labels: np.ndarray, scores: np.ndarray) -> float:
    """AUROC by the trapezoid rule over `roc_points` (for bootstrap loops)."""
    fpr, tpr = roc_points(labels, scores)
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))


def auroc_one_vs_rest(
    labels: np.ndarray, probabilities: np.ndarray, classes: tuple[str, ...]
) -> dict[str, float]:
    """AUROC of each class against all others, plus their unweighted mean as ``"macro"``.

    Classes without both positive and negative cases get NaN and are left out of
    the mean.
    """
    truth = np.asarray(labels)
    if probabilities.shape != (len(truth), len(classes)):
        raise ValueError("probabilities must be (cases, classes)")
    result = {}
    for index, name in enumerate(classes):
        positive = truth == index
        result[name] = (
            auroc(positive, probabilities[:, index])
            if positive.any() and not positive.all()
            else float("nan")
        )
    finite = [value for value in result.values() if not np.isnan(value)]
    result["macro"] = float(np.mean(finite)) if finite else float("nan")
    return result


def operating_point(labels: np.ndarray, scores: np.ndarray, threshold: float) -> OperatingPoint:
    """Counts at one threshold (``score >= threshold`` is positive)."""
    truth = np.asarray(labels).astype(bool)
    called = np.asarray(scores, dtype=np.float64) >= threshold
    return OperatingPoint(
        threshold=float(threshold),
        tp=int(np.count_nonzero(called & truth)),
        fp=int(np.count_nonzero(called & ~truth)),
        tn=int(np.count_nonzero(~called & ~truth)),
        fn=int(np.count_nonzero(~called & truth)),
    )


def youden_point(labels: np.ndarray, scores: np.ndarray) -> OperatingPoint:
    """The threshold maximising sensitivity + specificity - 1 (the highest, on ties)."""
    curve = roc(labels, scores)
    best = int(np.argmax(curve.tpr - curve.fpr))
    return operating_point(labels, scores, _finite(curve.thresholds[best], scores))


def point_at_sensitivity(labels: np.ndarray, scores: np.ndarray, target: float) -> OperatingPoint:
    """The most specific threshold whose sensitivity is at least `target`."""
    curve = roc(labels, scores)
    index = int(np.flatnonzero(curve.tpr >= target)[0])
    return operating_point(labels, scores, _finite(curve.thresholds[index], scores))


def point_at_specificity(labels: np.ndarray, scores: np.ndarray, target: float) -> OperatingPoint:
    """The most sensitive threshold whose specificity is at least `target`."""
    curve = roc(labels, scores)
    index = int(np.flatnonzero(1 - curve.fpr >= target)[-1])
    return operating_point(labels, scores, _finite(curve.thresholds[index], scores))


def confusion(labels: np.ndarray, predictions: np.ndarray, n_classes: int) -> np.ndarray:
    """Counts of (true class, predicted class) over classes ``0 .. n_classes - 1``."""
    return confusion_matrix(labels, predictions, labels=np.arange(n_classes))


def _finite(threshold: float, scores: np.ndarray) -> float:
    """scikit-learn's first threshold is +inf (call nothing positive): use just above the max."""
    if np.isfinite(threshold):
        return float(threshold)
    return float(np.nextafter(np.max(np.asarray(scores, dtype=np.float64)), np.inf))
