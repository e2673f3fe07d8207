"""Detection outputs against expert boxes: COCO mAP and FROC over a cohort.

Contract with detector outputs: an output folder may hold ``instances.json``, a
COCO results list for its mosaic (``bbox`` as ``[x, y, width, height]`` in
mosaic pixels, ``score``, ``category_id``). The manifest's ``coco`` column names
the mosaic's ground truth, a COCO file with one image (as ``rcm synth`` writes).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from rcm.errors import InputError
from rcm.metrics import FROC_RATES, coco_map, froc
from rcm.outputs import INSTANCES, DetectionResults
from rcm.report._cohort import Case


def detection_metrics(cases: list[Case]) -> dict[str, Any]:
    """COCO mAP (all cases as one dataset) and FROC (lesions found vs false positives)."""
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    results: list[dict[str, Any]] = []
    categories: dict[int, dict[str, Any]] = {}
    truth_boxes: dict[str, np.ndarray] = {}
    found: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for image_id, case in enumerate(cases, start=1):
        assert case.coco is not None
        truth = _load(case.coco, "ground truth")
        predicted = DetectionResults.read(case.output / INSTANCES)
        height, width = truth["images"][0]["height"], truth["images"][0]["width"]
        images.append({"id": image_id, "height": height, "width": width})
        for category in truth["categories"]:
            categories.setdefault(category["id"], category)
        boxes = []
        for annotation in truth["annotations"]:
            annotations.append({**annotation, "id": len(annotations) + 1, "image_id": image_id})
            x, y, w, h = annotation["bbox"]
            boxes.append([x, y, x + w, y + h])
        truth_boxes[case.mosaic_id] = np.array(boxes, np.float64).reshape(-1, 4)
        results.extend({**detection, "image_id": image_id} for detection in predicted.items)
        found[case.mosaic_id] = (predicted.boxes, predicted.scores)
    dataset = {
        "images": images,
        "annotations": annotations,
        "categories": sorted(categories.values(), key=lambda c: c["id"]),
    }
    curve = froc(truth_boxes, found)
    with_masks = bool(results) and all("segmentation" in item for item in annotations + results)
    masks = {"detection_masks": coco_map(dataset, results, "segm")} if with_masks else {}
    return {
        **masks,
        "detection": coco_map(dataset, results),
        "froc": {
            "false_positives_per_image": curve.false_positives_per_image.tolist(),
            "sensitivity": curve.sensitivity.tolist(),
            "at": {str(rate): value for rate, value in curve.at(FROC_RATES).items()},
        },
    }


def _load(path: Path, what: str) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise InputError(path, f"cannot read {what} ({error})") from error
