"""Clinicians' reads scored like the model: sensitivity and specificity per reader.

A read is a binary call (or a score with a threshold) on a case. Each reader
becomes a point in ROC space; the model is compared with each reader at the
reader's own specificity (model sensitivity there) and sensitivity.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rcm.metrics._classification import RocCurve


@dataclass(frozen=True)
class ReaderPoint:
    """One reader's (or the readers' average) performance on the cases they read."""

    reader: str
    cases: int
    sensitivity: float
    specificity: float
    model_sensitivity_at_reader_specificity: float
    model_specificity_at_reader_sensitivity: float

    def as_dict(self) -> dict[str, float | str | int]:
        return dict(vars(self))


def reader_points(
    readers: np.ndarray,
    cases: np.ndarray,
    calls: np.ndarray,
    truth: dict[str, bool],
    model_roc: RocCurve,
) -> list[ReaderPoint]:
    """Each reader's point and the readers' mean (``"average"``), compared with the model.

    Args:
        readers: Reader name per read.
        cases: Case (mosaic) id per read.
        calls: True where the reader called the case positive.
        truth: Label of each case; reads of unknown cases are ignored.
        model_roc: The model's ROC on the same cohort.

    """
    points = []
    for reader in sorted(set(readers.tolist())):
        mine = (readers == reader) & np.isin(cases, list(truth))
        labels = np.array([truth[case] for case in cases[mine]], bool)
        called = calls[mine].astype(bool)
        if labels.all() or not labels.any():
            continue
        sensitivity = float(np.mean(called[labels]))
        specificity = float(np.mean(~called[~labels]))
        points.append(_point(reader, int(mine.sum()), sensitivity, specificity, model_roc))
    if len(points) > 1:
        points.append(
            _point(
                "average",
                int(np.mean([p.cases for p in points])),
                float(np.mean([p.sensitivity for p in points])),
                float(np.mean([p.specificity for p in points])),
                model_roc,
            )
        )
    return points


def _point(
    reader: str, cases: int, sensitivity: float, specificity: float, curve: RocCurve
) -> ReaderPoint:
    # Best model sensitivity among thresholds at least as specific as the reader, and
    # best specificity among thresholds at least as sensitive.
    # Rates from counts on both sides (a reader's 1 of 5 equals the model's 1 of 5).
    specific_enough = curve.specificity >= specificity
    sensitive_enough = curve.sensitivity >= sensitivity
    return ReaderPoint(
        reader,
        cases,
        sensitivity,
        specificity,
        float(curve.sensitivity[specific_enough].max()) if specific_enough.any() else 0.0,
        float(curve.specificity[sensitive_enough].max()) if sensitive_enough.any() else 0.0,
    )
