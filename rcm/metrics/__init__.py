"""Metrics: calibration, coverage rule, ROC, patient bootstrap, DeLong, COCO mAP, FROC, Dice.

Photo models add per-category (multi-label) AUROC with vectorised patient-bootstrap
intervals (`PatientBootstrap`, `category_aurocs`), top-k accuracy and McNemar's test.
"""

from rcm.metrics._bootstrap import (
    Interval,
    bootstrap_ci,
    paired_difference,
    patient_resamples,
)
from rcm.metrics._calibration import (
    ReliabilityBins,
    brier_score,
    expected_calibration_error,
    fit_isotonic,
    fit_platt,
    fit_temperature,
    reliability_bins,
)
from rcm.metrics._classification import (
    OperatingPoint,
    RocCurve,
    auroc,
    auroc_one_vs_rest,
    confusion,
    fast_auroc,
    operating_point,
    point_at_sensitivity,
    point_at_specificity,
    roc,
    roc_points,
    youden_point,
)
from rcm.metrics._coverage import coverage_at, coverage_score
from rcm.metrics._delong import DelongResult, delong_covariance, delong_test
from rcm.metrics._detection import (
    FROC_RATES,
    CocoEvaluation,
    Froc,
    coco_box_inputs,
    coco_evaluation,
    coco_map,
    froc,
)
from rcm.metrics._explanation import faithfulness_summary, plausibility
from rcm.metrics._multilabel import (
    CategoryAurocs,
    category_aurocs,
    check_table,
    ratio_intervals,
    top_k_hits,
)
from rcm.metrics._paired import McNemarResult, mcnemar_exact
from rcm.metrics._patient_weights import PatientBootstrap
from rcm.metrics._readers import ReaderPoint, reader_points
from rcm.metrics._segmentation import Overlap, overlap

__all__ = [
    "ReliabilityBins",
    "brier_score",
    "expected_calibration_error",
    "fit_isotonic",
    "fit_platt",
    "fit_temperature",
    "reliability_bins",
    "faithfulness_summary",
    "plausibility",
    "FROC_RATES",
    "CategoryAurocs",
    "CocoEvaluation",
    "McNemarResult",
    "PatientBootstrap",
    "category_aurocs",
    "check_table",
    "coco_evaluation",
    "mcnemar_exact",
    "ratio_intervals",
    "top_k_hits",
    "DelongResult",
    "Froc",
    "Overlap",
    "coco_box_inputs",
    "coco_map",
    "froc",
    "overlap",
    "Interval",
    "OperatingPoint",
    "ReaderPoint",
    "RocCurve",
    "auroc",
    "auroc_one_vs_rest",
    "bootstrap_ci",
    "confusion",
    "coverage_at",
    "coverage_score",
    "delong_covariance",
    "delong_test",
    "fast_auroc",
    "operating_point",
    "paired_difference",
    "patient_resamples",
    "point_at_sensitivity",
    "point_at_specificity",
    "reader_points",
    "roc",
    "roc_points",
    "youden_point",
]
