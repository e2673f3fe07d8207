"""Mosaic-level evaluation of a cohort: every number with its patient-level bootstrap interval."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from rcm.metrics import (
    OperatingPoint,
    RocCurve,
    auroc,
    bootstrap_ci,
    fast_auroc,
    operating_point,
    patient_resamples,
    point_at_sensitivity,
    point_at_specificity,
    reader_points,
    roc,
    roc_points,
    youden_point,
)
from rcm.outputs import INSTANCES
from rcm.report._calibration import calibration_metrics
from rcm.report._cohort import Cohort, Reads
from rcm.report._detections import detection_metrics
from rcm.report._explanations import explanation_metrics
from rcm.report._lesions import lesion_metrics

FPR_GRID = np.linspace(0, 1, 101)


def evaluate_cohort(
    cohort: Cohort,
    *,
    reads: Reads | None = None,
    n_resamples: int = 2000,
    level: float = 0.95,
    target_sensitivity: float = 0.8,
    target_specificity: float = 0.8,
    seed: int = 0,
) -> dict[str, Any]:
    """AUROC, ROC (with a confidence band), operating points and the confusion matrix.

    Intervals resample patients (all of a patient's mosaics together). The
    calibration block measures the outputs' calibrated probabilities (or says
    there are none). Readers,
    diagnoses, expert boxes, expert masks and explanations add their blocks
    when the cohort has them.
    """
    scored = _Scored.of(cohort, n_resamples, level, seed)
    labels = scored.labels
    calibration = calibration_metrics(cohort, n_resamples=n_resamples, level=level, seed=seed)
    result: dict[str, Any] = {
        "counts": scored.counts(),
        "threshold": cohort.threshold,
        "coverage_fraction": cohort.coverage,
        "calibration": calibration.to_json(),
    }
    if labels.all() or not labels.any():
        result["auroc"] = None
        result["note"] = "AUROC and operating points need both positive and negative mosaics"
        return result
    scores = scored.scores
    curve = roc(labels, scores)
    result["auroc"] = scored.ci(lambda i: fast_auroc(labels[i], scores[i]))
    result["auroc"]["estimate"] = auroc(labels, scores)  # the reference implementation
    result["roc"] = {
        "fpr": curve.fpr.tolist(),
        "tpr": curve.tpr.tolist(),
        "thresholds": [float(t) if np.isfinite(t) else None for t in curve.thresholds],
        "band": _roc_band(labels, scores, scored.groups, n_resamples, level, seed),
    }
    points = _points(scored, cohort.threshold, target_sensitivity, target_specificity)
    result["operating_points"] = {
        name: _point_entry(scored, point) for name, point in points.items()
    }
    if reads is not None and reads.readers:
        result["readers"] = _readers(cohort, reads, curve)
    if cohort.threshold is not None:
        at = points["at threshold"]
        result["confusion_matrix"] = {
            "rows": "truth (negative, positive)",
            "columns": "call (negative, positive)",
            "counts": [[at.tn, at.fp], [at.fn, at.tp]],
        }
    result.update(_by_diagnosis(cohort, scores))
    result.update(_against_experts(cohort, n_resamples, seed))
    return result


@dataclass(frozen=True)
class _Scored:
    """The cohort as arrays (truth, mosaic scores, patients) and how intervals resample it."""

    labels: np.ndarray
    scores: np.ndarray
    groups: np.ndarray
    n_resamples: int
    level: float
    seed: int

    @classmethod
    def of(cls, cohort: Cohort, n_resamples: int, level: float, seed: int) -> _Scored:
        return cls(
            np.array([case.positive for case in cohort.cases], bool),
            np.array([case.score for case in cohort.cases], np.float64),
            np.array([case.patient_id for case in cohort.cases]),
            n_resamples,
            level,
            seed,
        )

    def counts(self) -> dict[str, int]:
        """Mosaics and patients scored, by truth."""
        return {
            "mosaics": len(self.labels),
            "patients": len(set(self.groups.tolist())),
            "positive": int(self.labels.sum()),
            "negative": int((~self.labels).sum()),
        }

    def ci(self, statistic: Callable[[np.ndarray], float]) -> dict[str, float]:
        """`statistic` of case indices with its patient-level bootstrap interval."""
        return bootstrap_ci(
            statistic, self.groups, n_resamples=self.n_resamples, level=self.level, seed=self.seed
        ).as_dict()


def _points(
    scored: _Scored,
    threshold: float | None,
    target_sensitivity: float,
    target_specificity: float,
) -> dict[str, OperatingPoint]:
    """The operating points reported: at the outputs' threshold (when shared), Youden, targets."""
    labels, scores = scored.labels, scored.scores
    points = {
        "youden": youden_point(labels, scores),
        f"sensitivity>={target_sensitivity:g}": point_at_sensitivity(
            labels, scores, target_sensitivity
        ),
        f"specificity>={target_specificity:g}": point_at_specificity(
            labels, scores, target_specificity
        ),
    }
    if threshold is not None:
        points = {"at threshold": operating_point(labels, scores, threshold), **points}
    return points


def _point_entry(scored: _Scored, point: OperatingPoint) -> dict[str, Any]:
    """An operating point with intervals of its sensitivity and specificity."""
    labels, scores, threshold = scored.labels, scored.scores, point.threshold
    entry: dict[str, Any] = point.as_dict()
    entry["sensitivity_ci"] = scored.ci(lambda i: _rate(labels[i], scores[i], threshold, True))
    entry["specificity_ci"] = scored.ci(lambda i: _rate(labels[i], scores[i], threshold, False))
    return entry


def _readers(cohort: Cohort, reads: Reads, curve: RocCurve) -> list[dict[str, Any]]:
    """Each reader as a point on the model's ROC."""
    truth = {case.mosaic_id: case.positive for case in cohort.cases}
    return [
        point.as_dict()
        for point in reader_points(
            np.array(reads.readers),
            np.array(reads.mosaic_ids),
            np.array(reads.calls),
            truth,
            curve,
        )
    ]


def _by_diagnosis(cohort: Cohort, scores: np.ndarray) -> dict[str, Any]:
    """AUROC of each diagnosis against the rest, when the manifest gives diagnoses."""
    diagnoses = sorted({case.diagnosis for case in cohort.cases if case.diagnosis})
    if not diagnoses:
        return {}
    names = np.array([case.diagnosis or "" for case in cohort.cases])
    return {
        "by_diagnosis": {
            name: auroc(names == name, scores)
            for name in diagnoses
            if (names == name).any() and not (names == name).all()
        }
    }


def _against_experts(cohort: Cohort, n_resamples: int, seed: int) -> dict[str, Any]:
    """Blocks against expert boxes and masks, and of explanations, when the cohort has them."""
    result: dict[str, Any] = {}
    # Tile classifiers write no instances.json: expert boxes count for detector outputs only.
    with_boxes = [
        case
        for case in cohort.cases
        if case.coco is not None and (case.output / INSTANCES).exists()
    ]
    if with_boxes:
        result.update(detection_metrics(with_boxes))
    with_masks = [case for case in cohort.cases if case.mask is not None]
    if with_masks:
        result.update(lesion_metrics(with_masks, n_resamples=n_resamples, seed=seed))
    result.update(explanation_metrics(cohort.cases))
    return result


def _rate(labels: np.ndarray, scores: np.ndarray, threshold: float, sensitivity: bool) -> float:
    point = operating_point(labels, scores, threshold)
    value = point.sensitivity if sensitivity else point.specificity
    if np.isnan(value):
        raise ValueError("undefined in this resample")
    return value


def _roc_band(
    labels: np.ndarray,
    scores: np.ndarray,
    groups: np.ndarray,
    n_resamples: int,
    level: float,
    seed: int,
) -> dict[str, list[float]]:
    """Pointwise percentile band of the true positive rate on a grid of false positive rates."""
    curves = []
    for indices in patient_resamples(groups, n_resamples, seed):
        sample_labels = labels[indices]
        if sample_labels.all() or not sample_labels.any():
            continue
        fpr, tpr = roc_points(sample_labels, scores[indices])
        curves.append(np.interp(FPR_GRID, fpr, tpr))
    if not curves:
        return {"fpr": FPR_GRID.tolist(), "low": [], "high": []}
    low, high = np.percentile(np.array(curves), [50 * (1 - level), 50 * (1 + level)], axis=0)
    return {"fpr": FPR_GRID.tolist(), "low": low.tolist(), "high": high.tolist()}
