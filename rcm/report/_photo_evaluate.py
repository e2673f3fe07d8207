"""Classification and calibration metrics of a photo cohort, with patient-bootstrap intervals.

Discrimination (AUROC, ROC, operating points, top-k, confusion) uses the raw
probabilities (``p_<category>``); calibration (Brier score, expected
calibration error, reliability bins) uses the calibrated ones when the run has
them, else the raw ones, and says which. All intervals come from one set of
patient resamples (`rcm.metrics.PatientBootstrap`), drawn once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from rcm.metrics import (
    CategoryAurocs,
    Interval,
    OperatingPoint,
    PatientBootstrap,
    brier_score,
    category_aurocs,
    confusion,
    point_at_sensitivity,
    point_at_specificity,
    ratio_intervals,
    reliability_bins,
    roc,
    top_k_hits,
    youden_point,
)
from rcm.report._photo_cohort import PhotoCohort

ROC_POINTS = 1000  # most points of a ROC curve kept in metrics.json
TOP_K = (1, 3)


@dataclass(frozen=True)
class PhotoMetrics:
    """The typed AUROCs, which probabilities calibration used, and every other block."""

    aurocs: CategoryAurocs
    probabilities: str
    blocks: dict[str, Any]


def evaluate_photo_cohort(
    cohort: PhotoCohort,
    bootstrap: PatientBootstrap,
    *,
    level: float = 0.95,
    target_sensitivity: float = 0.8,
    target_specificity: float = 0.8,
) -> PhotoMetrics:
    """AUROC, ROC, operating points, top-k, confusion and calibration of the cohort."""
    names, truth, scores = cohort.categories, cohort.truth, cohort.scores
    aurocs = category_aurocs(truth, scores, names, bootstrap, level=level)
    blocks: dict[str, Any] = {
        "scores": "raw probabilities (p_<category>)",
        "prevalence": {
            name: {"positive": int(truth[:, i].sum()), "negative": int((~truth[:, i]).sum())}
            for i, name in enumerate(names)
        },
        "roc": {
            name: _roc_entry(truth[:, i], scores[:, i])
            for i, name in enumerate(names)
            if aurocs.per_category[i] is not None
        },
        "operating_points": _operating_points(
            cohort, bootstrap, aurocs, level, target_sensitivity, target_specificity
        ),
    }
    blocks.update(_single_category(cohort, bootstrap, level))
    probabilities, calibration = _calibration(cohort)
    blocks["calibration"] = calibration
    return PhotoMetrics(aurocs, probabilities, blocks)


def _roc_entry(labels: np.ndarray, scores: np.ndarray) -> dict[str, list[float]]:
    """The ROC curve, thinned to at most `ROC_POINTS` points (ends kept)."""
    curve = roc(labels, scores)
    keep = np.unique(np.round(np.linspace(0, len(curve.fpr) - 1, ROC_POINTS)).astype(int))
    return {"fpr": curve.fpr[keep].tolist(), "tpr": curve.tpr[keep].tolist()}


def _operating_points(
    cohort: PhotoCohort,
    bootstrap: PatientBootstrap,
    aurocs: CategoryAurocs,
    level: float,
    target_sensitivity: float,
    target_specificity: float,
) -> dict[str, dict[str, Any]]:
    """Per category: Youden and target points, sensitivity and specificity with intervals."""
    chosen: list[tuple[str, str, OperatingPoint]] = []
    for index, name in enumerate(cohort.categories):
        if aurocs.per_category[index] is None:
            continue
        labels, scores = cohort.truth[:, index], cohort.scores[:, index]
        chosen.append((name, "youden", youden_point(labels, scores)))
        chosen.append(
            (
                name,
                f"sensitivity>={target_sensitivity:g}",
                point_at_sensitivity(labels, scores, target_sensitivity),
            )
        )
        chosen.append(
            (
                name,
                f"specificity>={target_specificity:g}",
                point_at_specificity(labels, scores, target_specificity),
            )
        )
    intervals = _rate_intervals(cohort, bootstrap, chosen, level)
    result: dict[str, dict[str, Any]] = {}
    for (name, label, point), (sensitivity, specificity) in zip(chosen, intervals, strict=True):
        entry: dict[str, Any] = point.as_dict()
        entry["sensitivity_ci"] = vars(sensitivity)
        entry["specificity_ci"] = vars(specificity)
        result.setdefault(name, {})[label] = entry
    return result


def _rate_intervals(
    cohort: PhotoCohort,
    bootstrap: PatientBootstrap,
    chosen: list[tuple[str, str, OperatingPoint]],
    level: float,
) -> list[tuple[Interval, Interval]]:
    """Sensitivity and specificity intervals of every chosen point, from one product."""
    if not chosen:
        return []
    column = {name: index for index, name in enumerate(cohort.categories)}
    numerators, denominators = [], []
    for name, _, point in chosen:
        labels = cohort.truth[:, column[name]]
        called = cohort.scores[:, column[name]] >= point.threshold
        numerators += [called & labels, ~called & ~labels]
        denominators += [labels, ~labels]
    found = ratio_intervals(
        bootstrap, np.stack(numerators, axis=1), np.stack(denominators, axis=1), level=level
    )
    return [(found[2 * k], found[2 * k + 1]) for k in range(len(chosen))]


def _single_category(
    cohort: PhotoCohort, bootstrap: PatientBootstrap, level: float
) -> dict[str, Any]:
    """Top-k accuracy and the confusion matrix on photos showing exactly one category."""
    single = cohort.truth.sum(axis=1) == 1
    if not single.any():
        return {}
    labels = np.argmax(cohort.truth, axis=1)
    rule = (
        "photos with exactly one category"
        if cohort.labels == "single"
        else "photos with exactly one category (a multi-label model, read as single-label)"
    )
    accuracy: dict[str, Any] = {"photos": int(single.sum()), "of": len(single), "rule": rule}
    ks = [k for k in TOP_K if k <= len(cohort.categories)]
    hits = [top_k_hits(labels, cohort.scores, k) & single for k in ks]
    denominators = np.repeat(single[:, None], len(ks), axis=1)
    intervals = ratio_intervals(bootstrap, np.stack(hits, axis=1), denominators, level=level)
    for k, interval in zip(ks, intervals, strict=True):
        accuracy[f"top{k}"] = vars(interval)
    called = np.argmax(cohort.scores[single], axis=1)
    counts = confusion(labels[single], called, len(cohort.categories))
    return {
        "top_k": accuracy,
        "confusion_matrix": {
            "rows": "truth (the photo's one category)",
            "columns": "the model's top category",
            "categories": list(cohort.categories),
            "counts": counts.tolist(),
            "photos": int(single.sum()),
        },
    }


def _calibration(cohort: PhotoCohort) -> tuple[str, dict[str, Any]]:
    """Brier score, ECE and reliability bins per category and pooled."""
    calibrated = cohort.calibrated is not None
    probabilities = cohort.calibrated if cohort.calibrated is not None else cohort.scores
    block: dict[str, Any] = {
        "probabilities": "calibrated" if calibrated else "raw",
        "note": (
            "Measured on the calibrated probabilities (p_<category>_calibrated)"
            if calibrated
            else "The run has no calibrated probabilities: measured on the raw ones"
        ),
        "per_category": {
            name: _calibration_entry(probabilities[:, i], cohort.truth[:, i])
            for i, name in enumerate(cohort.categories)
        },
        "pooled": _calibration_entry(probabilities.ravel(), cohort.truth.ravel()),
    }
    return block["probabilities"], block


def _calibration_entry(probability: np.ndarray, truth: np.ndarray) -> dict[str, Any]:
    bins = reliability_bins(probability, truth)
    return {
        "brier": brier_score(probability, truth),
        "ece": bins.expected_calibration_error,
        "bins": {
            "edges": list(bins.edges),
            "counts": list(bins.counts),
            "mean_probability": list(bins.mean_probability),
            "fraction_positive": list(bins.fraction_positive),
        },
    }
