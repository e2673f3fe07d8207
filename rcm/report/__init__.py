"""The evaluation of a cohort: outputs joined to the truth, metrics, and the HTML report.

Mosaic cohorts (`load_cohort`, `evaluate_cohort`, `write_report`) and photo runs
(`load_photo_cohort`, `evaluate_photo_cohort`, `write_photo_report`).
"""

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
from rcm.report._photo_cohort import Detections, PhotoCohort, load_photo_cohort
from rcm.report._photo_detection import photo_detection_metrics
from rcm.report._photo_evaluate import PhotoMetrics, evaluate_photo_cohort
from rcm.report._photo_examples import Example, photo_examples
from rcm.report._photo_html import write_photo_report
from rcm.report._photo_readers import photo_reader_metrics
from rcm.report._photo_reads import PhotoReads, load_photo_reads
from rcm.report._photo_truth import TruthBoxes

__all__ = [
    "Detections",
    "Example",
    "PhotoCohort",
    "PhotoMetrics",
    "PhotoReads",
    "TruthBoxes",
    "evaluate_photo_cohort",
    "load_photo_cohort",
    "load_photo_reads",
    "photo_detection_metrics",
    "photo_examples",
    "photo_reader_metrics",
    "write_photo_report",
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
