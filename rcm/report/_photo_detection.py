"""A photo detector against the expert boxes: COCO mAP and FROC, pooled and per category.

All evaluated photos form one COCO dataset (boxes in upright pixels, crowd
regions as ``iscrowd`` 1, which COCO ignores). FROC counts lesions found
against false positives per photo at IoU 0.5: pooled, a box of any category
finds a lesion of any category (lesions found at all); per category, boxes of
the category against its lesions. Detections on crowd regions are ignored.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rcm.metrics import FROC_RATES, coco_box_inputs, coco_evaluation, froc
from rcm.report._photo_cohort import PhotoCohort

CURVE_POINTS = 1000  # most points of a FROC curve kept in metrics.json


def photo_detection_metrics(cohort: PhotoCohort) -> dict[str, Any]:
    """``detection`` (COCO summary and per-category table) and ``froc`` blocks."""
    assert cohort.boxes is not None and cohort.detections is not None
    truth = [(t.boxes, t.labels, t.crowd) for t in cohort.boxes]
    found = [(d.boxes, d.scores, d.labels) for d in cohort.detections]
    sizes = [(int(size[0]), int(size[1])) for size in cohort.sizes]
    evaluation = coco_evaluation(*coco_box_inputs(sizes, truth, found, cohort.categories))
    # COCO writes -1 for a measure without ground truth (no small lesions...): NaN here.
    summary = {
        name: value if value >= 0 else float("nan") for name, value in evaluation.summary.items()
    }
    return {
        "detection": {
            **summary,
            "per_category": evaluation.per_category,
            "rule": "COCO bbox: IoU 0.50:0.95, areas small < 32^2 <= medium < 96^2 <= large "
            "(upright photo pixels), 100 detections per photo, crowd regions ignored",
        },
        "froc": _froc_block(cohort),
    }


def _froc_block(cohort: PhotoCohort) -> dict[str, Any]:
    """FROC pooled over categories and per category."""
    block: dict[str, Any] = {"pooled": _froc_entry(cohort, None), "per_category": {}}
    for index, name in enumerate(cohort.categories):
        block["per_category"][name] = _froc_entry(cohort, index)
    block["iou"] = 0.5
    return block


def _froc_entry(cohort: PhotoCohort, category: int | None) -> dict[str, Any]:
    assert cohort.boxes is not None and cohort.detections is not None
    lesions, found, ignore = {}, {}, {}
    for number, (truth, detected) in enumerate(zip(cohort.boxes, cohort.detections, strict=True)):
        mine = np.ones(len(truth.labels), bool) if category is None else truth.labels == category
        lesions[number] = truth.boxes[mine & ~truth.crowd]
        ignore[number] = truth.boxes[mine & truth.crowd]
        kept = slice(None) if category is None else detected.labels == category
        found[number] = (detected.boxes[kept], detected.scores[kept])
    curve = froc(lesions, found, ignore=ignore)
    keep = np.unique(np.round(np.linspace(0, len(curve.sensitivity) - 1, CURVE_POINTS)).astype(int))
    return {
        "lesions": int(sum(len(boxes) for boxes in lesions.values())),
        "false_positives_per_photo": curve.false_positives_per_image[keep].tolist(),
        "sensitivity": curve.sensitivity[keep].tolist(),
        "at": {f"{rate:g}": value for rate, value in curve.at(FROC_RATES).items()},
    }
