"""Calibration of a cohort's probabilities: Brier score, calibration error, reliability bins.

Only the calibrated probability an output carries (``summary.json``
``probability``) is measured. A mosaic score is the coverage rule as a number,
not a probability, so a cohort whose outputs lack one gets a note and no
numbers: none are made up from the raw score.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from rcm.metrics import bootstrap_ci, brier_score, expected_calibration_error, reliability_bins
from rcm.outputs import CalibrationMetrics, Interval, ReliabilityTable
from rcm.report._cohort import Cohort

NOT_CALIBRATED = (
    "the outputs carry no calibrated probability (the model is not calibrated: "
    "`rcm models calibrate` fits one on the validation split); the mosaic score is a "
    "coverage rule, not a probability, so no Brier score or calibration error is given"
)


def calibration_metrics(
    cohort: Cohort, *, n_resamples: int, level: float = 0.95, seed: int = 0
) -> CalibrationMetrics:
    """Brier score and ECE with patient-level intervals, and the reliability bins.

    Every case must carry a calibrated probability; otherwise the result says
    which share does and gives no numbers.
    """
    cases = cohort.cases
    known = [case.probability for case in cases if case.probability is not None]
    if not cases or len(known) < len(cases):
        note = NOT_CALIBRATED
        if known:
            note = (
                f"only {len(known)} of {len(cases)} outputs carry a calibrated probability "
                "(made by different models?): no Brier score or calibration error is given"
            )
        return CalibrationMetrics(calibrated=False, note=note)
    probability = np.array(known, np.float64)
    truth = np.array([case.positive for case in cases], bool)
    groups = np.array([case.patient_id for case in cases])
    methods = {case.calibration_method for case in cases}

    def interval(statistic: Callable[[np.ndarray, np.ndarray], float]) -> Interval:
        def of(indices: np.ndarray) -> float:
            return statistic(probability[indices], truth[indices])

        found = bootstrap_ci(of, groups, n_resamples=n_resamples, level=level, seed=seed)
        return Interval(
            found.estimate, found.low, found.high, found.level, found.resamples, found.skipped
        )

    bins = reliability_bins(probability, truth)
    return CalibrationMetrics(
        calibrated=True,
        method=next(iter(methods)) if len(methods) == 1 else None,
        brier=interval(brier_score),
        expected_calibration_error=interval(expected_calibration_error),
        reliability=ReliabilityTable(
            edges=bins.edges,
            counts=bins.counts,
            mean_probability=tuple(_or_none(v) for v in bins.mean_probability),
            fraction_positive=tuple(_or_none(v) for v in bins.fraction_positive),
        ),
    )


def _or_none(value: float) -> float | None:
    """An empty bin's NaN as None (JSON null)."""
    return None if math.isnan(value) else value
