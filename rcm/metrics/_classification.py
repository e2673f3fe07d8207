"""Binary and one-vs-rest classification metrics: ROC, AUROC, operating points.

The arithmetic is scikit-learn's; this module adds what clinicians ask for on
top of it: sensitivity, specificity and predictive values at a threshold, the
Youden point, and the best point at a target sensitivity or specificity.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.metrics import confusion_matrix, roc_auc_score


@dataclass(frozen=True)
class RocCurve:
    """A ROC curve: rates and the counts behind them per threshold, and its area.

    Thresholds run from +inf (nothing positive) down through every distinct
    score. A rate at a target is compared from the counts (`sensitivity` and
    `specificity` are one correctly rounded division of integers each), never as
    ``1 - fpr``, whose second rounding makes 1 - 4/5 fall short of 0.2.

    Attributes:
        fpr: False positive rate per threshold.
        tpr: True positive rate per threshold (equal to `sensitivity`).
        thresholds: ``score >= threshold`` is positive; the first is +inf.
        auc: Area under the curve.
        tp: True positives per threshold (int64).
        fp: False positives per threshold (int64).

    """

    fpr: np.ndarray
    tpr: np.ndarray
    thresholds: np.ndarray
    auc: float
    tp: np.ndarray
    fp: np.ndarray

    @property
    def positives(self) -> int:
        return int(self.tp[-1])

    @property
    def negatives(self) -> int:
        return int(self.fp[-1])

    @property
    def sensitivity(self) -> np.ndarray:
        return self.tp / self.positives

    @property
    def specificity(self) -> np.ndarray:
        return (self.negatives - self.fp) / self.negatives


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
    values = _scores(scores)
    if truth.shape != values.shape or truth.ndim != 1:
        raise ValueError("labels and scores must be 1-D and of the same length")
    if truth.all() or not truth.any():
        raise ValueError("ROC analysis needs both positive and negative cases")
    return truth, values


def _scores(scores: np.ndarray) -> np.ndarray:
    """Scores as float64; NaN is refused (it would count as negative at every threshold)."""
    values = np.asarray(scores, dtype=np.float64)
    missing = int(np.count_nonzero(np.isnan(values)))
    if missing:
        raise ValueError(f"scores hold NaN ({missing} of {values.size}): every case needs a score")
    return values


def _counts(truth: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Thresholds (+inf, then distinct scores, highest first) and tp, fp at each."""
    order = np.argsort(-values, kind="mergesort")
    ordered = values[order]
    last_of_each = np.r_[np.flatnonzero(ordered[1:] != ordered[:-1]), len(ordered) - 1]
    true_positives = np.cumsum(truth[order], dtype=np.int64)[last_of_each]
    false_positives = last_of_each + 1 - true_positives
    return (
        np.r_[np.inf, ordered[last_of_each]],
        np.r_[0, true_positives].astype(np.int64),
        np.r_[0, false_positives].astype(np.int64),
    )


def roc(labels: np.ndarray, scores: np.ndarray) -> RocCurve:
    """The ROC curve of `scores` against binary `labels` (1 = positive)."""
    truth, values = _binary(labels, scores)
    thresholds, tp, fp = _counts(truth, values)
    auc = float(roc_auc_score(truth, values))
    return RocCurve(fp / fp[-1], tp / tp[-1], thresholds, auc, tp, fp)


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
    _, tp, fp = _counts(*_binary(labels, scores))
    return fp / fp[-1], tp / tp[-1]


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
    called = _scores(scores) >= threshold
    return OperatingPoint(
        threshold=float(threshold),
        tp=int(np.count_nonzero(called & truth)),
        fp=int(np.count_nonzero(called & ~truth)),
        tn=int(np.count_nonzero(~called & ~truth)),
        fn=int(np.count_nonzero(~called & truth)),
    )


def youden_point(labels: np.ndarray, scores: np.ndarray) -> OperatingPoint:
    """The threshold maximising sensitivity + specificity - 1 (the highest, on ties).

    Compared in integers (``tp * negatives - fp * positives``), so ties are exact.
    """
    curve = roc(labels, scores)
    best = int(np.argmax(curve.tp * curve.negatives - curve.fp * curve.positives))
    return operating_point(labels, scores, _finite(curve.thresholds[best], scores))


def point_at_sensitivity(labels: np.ndarray, scores: np.ndarray, target: float) -> OperatingPoint:
    """The most specific threshold whose sensitivity (from counts) is at least `target`."""
    curve = roc(labels, scores)
    index = int(np.flatnonzero(curve.sensitivity >= target)[0])
    return operating_point(labels, scores, _finite(curve.thresholds[index], scores))


def point_at_specificity(labels: np.ndarray, scores: np.ndarray, target: float) -> OperatingPoint:
    """The most sensitive threshold whose specificity (from counts) is at least `target`.

    A specificity equal to the target (1 of 5 negatives for 0.2) meets it.
    """
    curve = roc(labels, scores)
    index = int(np.flatnonzero(curve.specificity >= target)[-1])
    return operating_point(labels, scores, _finite(curve.thresholds[index], scores))


def confusion(labels: np.ndarray, predictions: np.ndarray, n_classes: int) -> np.ndarray:
    """Counts of (true class, predicted class) over classes ``0 .. n_classes - 1``."""
    return confusion_matrix(labels, predictions, labels=np.arange(n_classes))


def _finite(threshold: float, scores: np.ndarray) -> float:
    """scikit-learn's first threshold is +inf (call nothing positive): use just above the max."""
    if np.isfinite(threshold):
        return float(threshold)
    return float(np.nextafter(np.max(np.asarray(scores, dtype=np.float64)), np.inf))
