"""Two models on the same mosaics: DeLong's test and a patient-level paired bootstrap."""

from __future__ import annotations

from typing import Any

import numpy as np

from rcm.metrics import auroc, delong_test, fast_auroc, paired_difference
from rcm.report._cohort import Cohort


def compare_cohorts(
    first: Cohort, second: Cohort, *, n_resamples: int = 2000, seed: int = 0
) -> dict[str, Any]:
    """AUROC of each model on the mosaics both scored, and tests of their difference."""
    other = {case.mosaic_id: case for case in second.cases}
    shared = [case for case in first.cases if case.mosaic_id in other]
    labels = np.array([case.positive for case in shared], bool)
    if labels.all() or not labels.any():
        return {
            "cases": len(shared),
            "note": "no comparison: the shared mosaics are all of one class",
        }
    scores_a = np.array([case.score for case in shared])
    scores_b = np.array([other[case.mosaic_id].score for case in shared])
    groups = np.array([case.patient_id for case in shared])
    delong = delong_test(labels, scores_a, scores_b)
    interval, p_value = paired_difference(
        lambda i: fast_auroc(labels[i], scores_a[i]),
        lambda i: fast_auroc(labels[i], scores_b[i]),
        groups,
        n_resamples=n_resamples,
        seed=seed,
    )
    difference = interval.as_dict()
    difference["estimate"] = auroc(labels, scores_a) - auroc(labels, scores_b)
    return {
        "cases": len(shared),
        "auroc": {"this": auroc(labels, scores_a), "other": auroc(labels, scores_b)},
        "delong": {"z": delong.z, "p_value": delong.p_value},
        "paired_bootstrap": {"difference": difference, "p_value": p_value},
    }
