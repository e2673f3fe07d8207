"""The evaluation of a cohort: outputs joined to the truth, metrics, and the HTML report."""

from rcm.report._calibration import calibration_metrics
from rcm.report._cohort import (
    Case,
    Cohort,
    Outputs,
    Problem,
    Reads,
    label_truth,
    load_cohort,
    load_reads,
)
from rcm.report._compare import compare_cohorts
from rcm.report._detections import detection_metrics
from rcm.report._evaluate import evaluate_cohort
from rcm.report._explanations import explanation_metrics
from rcm.report._html import write_report
from rcm.report._lesions import lesion_metrics

__all__ = [
    "Case",
    "Cohort",
    "Outputs",
    "Problem",
    "Reads",
    "calibration_metrics",
    "compare_cohorts",
    "detection_metrics",
    "evaluate_cohort",
    "explanation_metrics",
    "label_truth",
    "lesion_metrics",
    "load_cohort",
    "load_reads",
    "write_report",
]
