"""Mosaic-level metrics: the coverage rule, ROC analysis, patient-level bootstrap, DeLong."""

from rcm.metrics._bootstrap import (
    Interval,
    bootstrap_ci,
    paired_difference,
    patient_resamples,
)
from rcm.metrics._classification import (
    OperatingPoint,
    RocCurve,
    auroc,
    auroc_one_vs_rest,
    confusion,
    operating_point,
    point_at_sensitivity,
    point_at_specificity,
    roc,
    youden_point,
)
from rcm.metrics._coverage import coverage_at, coverage_score
from rcm.metrics._delong import DelongResult, delong_covariance, delong_test

__all__ = [
    "DelongResult",
    "Interval",
    "OperatingPoint",
    "RocCurve",
    "auroc",
    "auroc_one_vs_rest",
    "bootstrap_ci",
    "confusion",
    "coverage_at",
    "coverage_score",
    "delong_covariance",
    "delong_test",
    "operating_point",
    "paired_difference",
    "patient_resamples",
    "point_at_sensitivity",
    "point_at_specificity",
    "roc",
    "youden_point",
]
