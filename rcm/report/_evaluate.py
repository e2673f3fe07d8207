"""Mosaic-level evaluation of a cohort: every number with its patient-level bootstrap interval."""

from __future__ import annotations

from typing import Any

import numpy as np

from rcm.metrics import (
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

    Intervals resample patients (all of a patient's mosaics together).
    """
    labels = np.array([case.positive for case in cohort.cases], bool)
    scores = np.array([case.score for case in cohort.cases], np.float64)
    groups = np.array([case.patient_id for case in cohort.cases])
    result: dict[str, Any] = {
        "counts": {
            "mosaics": len(labels),
            "patients": len(set(groups.tolist())),
            "positive": int(labels.sum()),
            "negative": int((~labels).sum()),
        },
        "threshold": cohort.threshold,
        "coverage_fraction": cohort.coverage,
    }
    if labels.all() or not labels.any():
        result["auroc"] = None
        result["note"] = "AUROC and operating points need both positive and negative mosaics"
        return result

    def ci(statistic: Any) -> dict[str, float]:
        return bootstrap_ci(
            statistic, groups, n_resamples=n_resamples, level=level, seed=seed
        ).as_dict()

    curve = roc(labels, scores)
    result["auroc"] = ci(lambda i: fast_auroc(labels[i], scores[i]))
    result["auroc"]["estimate"] = auroc(labels, scores)  # the reference implementation
    result["roc"] = {
        "fpr": curve.fpr.tolist(),
        "tpr": curve.tpr.tolist(),
        "thresholds": [float(t) if np.isfinite(t) else None for t in curve.thresholds],
        "band": _roc_band(labels, scores, groups, n_resamples, level, seed),
    }
    points = {
        "youden": youden_point(labels, scores),
        f"sensitivity>={target_sensitivity:g}": point_at_sensitivity(
            labels, scores, target_sensitivity
        ),
        f"specificity>={target_specificity:g}": point_at_specificity(
            labels, scores, target_specificity
        ),
    }
    if cohort.threshold is not None:
        points = {"at threshold": operating_point(labels, scores, cohort.threshold), **points}
    result["operating_points"] = {}
    for name, point in points.items():
        entry: dict[str, Any] = point.as_dict()
        threshold = point.threshold
        entry["sensitivity_ci"] = ci(lambda i, t=threshold: _rate(labels[i], scores[i], t, True))
        entry["specificity_ci"] = ci(lambda i, t=threshold: _rate(labels[i], scores[i], t, False))
        result["operating_points"][name] = entry
    if reads is not None and reads.readers:
        truth = {case.mosaic_id: case.positive for case in cohort.cases}
        result["readers"] = [
            point.as_dict()
            for point in reader_points(
                np.array(reads.readers),
                np.array(reads.mosaic_ids),
                np.array(reads.calls),
                truth,
                curve,
            )
        ]
    if cohort.threshold is not None:
        at = points["at threshold"]
        result["confusion_matrix"] = {
            "rows": "truth (negative, positive)",
            "columns": "call (negative, positive)",
            "counts": [[at.tn, at.fp], [at.fn, at.tp]],
        }
    diagnoses = sorted({case.diagnosis for case in cohort.cases if case.diagnosis})
    if diagnoses:
        names = np.array([case.diagnosis or "" for case in cohort.cases])
        result["by_diagnosis"] = {
            name: auroc(names == name, scores)
            for name in diagnoses
            if (names == name).any() and not (names == name).all()
        }
    # Tile classifiers write no instances.json: expert boxes count for detector outputs only.
    with_boxes = [
        case
        for case in cohort.cases
        if case.coco is not None and (case.output / "instances.json").exists()
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
