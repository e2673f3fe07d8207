"""The model compared with clinicians, category by category and on the diagnosis.

Per category (one binary task each: a reader's call of the category on a photo
is a positive call for it) every reader becomes a point in ROC space
(`rcm.metrics.reader_points`: sensitivity, specificity, the model's sensitivity
at the reader's specificity and its specificity at the reader's sensitivity,
and the readers' average).

The paired test of the model against each reader is McNemar's exact test on
the photos the reader read: the model called at its threshold matched to the
reader's specificity on those photos (the most sensitive threshold at least as
specific), each photo's call right or wrong for both, and the photos where
only one was right tested for an even split (`rcm.metrics.mcnemar_exact`).
It treats photos as independent (it does not resample patients).

On the diagnosis (photos with exactly one category), a reader is right when
they called that category alone, the model when it is its top category; the
same test compares them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rcm.metrics import mcnemar_exact, point_at_specificity, reader_points, roc
from rcm.report._photo_cohort import PhotoCohort
from rcm.report._photo_reads import PhotoReads

TEST = (
    "McNemar's exact test (two-sided) of right and wrong calls on the photos the reader "
    "read, the model at its threshold matched to the reader's specificity on them"
)


def photo_reader_metrics(cohort: PhotoCohort, reads: PhotoReads) -> dict[str, Any]:
    """``readers`` block: per category points and tests, and the diagnosis comparison."""
    names = np.array(cohort.images)
    per_category: dict[str, list[dict[str, Any]]] = {}
    for index, category in enumerate(cohort.categories):
        labels = cohort.truth[:, index]
        if not reads.covered[index] or labels.all() or not labels.any():
            continue
        truth = {name: bool(value) for name, value in zip(names, labels, strict=True)}
        points = reader_points(
            reads.readers,
            names[reads.photos],
            reads.calls[:, index],
            truth,
            roc(labels, cohort.scores[:, index]),
        )
        entries = []
        for point in points:
            entry: dict[str, Any] = point.as_dict()
            if point.reader != "average":
                entry["paired_test"] = _paired(cohort, reads, index, point.reader)
            entries.append(entry)
        if entries:
            per_category[category] = entries
    return {
        "readers": list(reads.names),
        "per_category": per_category,
        "diagnosis": _diagnosis(cohort, reads),
        "test": TEST,
    }


def _paired(cohort: PhotoCohort, reads: PhotoReads, index: int, reader: str) -> dict[str, Any]:
    """McNemar's test of the model (matched specificity) against one reader on one category."""
    mine = reads.readers == reader
    photos = reads.photos[mine]
    labels = cohort.truth[photos, index]
    scores = cohort.scores[photos, index]
    called = reads.calls[mine, index]
    if labels.all() or not labels.any():
        return {"note": "the reader's photos are all of one class"}
    specificity = float(np.mean(~called[~labels]))
    point = point_at_specificity(labels, scores, specificity)
    model = scores >= point.threshold
    test = mcnemar_exact(model == labels, called == labels)
    return {
        "threshold": point.threshold,
        "model_sensitivity": point.sensitivity,
        "model_specificity": point.specificity,
        "reader_sensitivity": float(np.mean(called[labels])),
        "reader_specificity": specificity,
        **test.as_dict(),
    }


def _diagnosis(cohort: PhotoCohort, reads: PhotoReads) -> list[dict[str, Any]]:
    """Each reader's and the model's top-1 diagnosis on the single-category photos they read."""
    single = cohort.truth.sum(axis=1) == 1
    if not single.any() or not reads.covered.all():
        return []
    truth = np.argmax(cohort.truth, axis=1)
    top = np.argmax(cohort.scores, axis=1)
    found = []
    for reader in reads.names:
        mine = (reads.readers == reader) & single[reads.photos]
        if not mine.any():
            continue
        photos = reads.photos[mine]
        calls = reads.calls[mine]
        reader_right = calls[np.arange(len(photos)), truth[photos]] & (calls.sum(axis=1) == 1)
        model_right = top[photos] == truth[photos]
        test = mcnemar_exact(model_right, reader_right)
        found.append(
            {
                "reader": reader,
                "photos": len(photos),
                "reader_accuracy": float(reader_right.mean()),
                "model_accuracy": float(model_right.mean()),
                **{f"mcnemar_{key}": value for key, value in test.as_dict().items()},
            }
        )
    return found
