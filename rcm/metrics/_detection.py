"""Detection metrics: COCO mAP (faster-coco-eval, equal to pycocotools) and FROC."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

FROC_RATES = (0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
_SUMMARY_NAMES = (
    "AP",
    "AP50",
    "AP75",
    "AP_small",
    "AP_medium",
    "AP_large",
    "AR1",
    "AR10",
    "AR100",
    "AR_small",
    "AR_medium",
    "AR_large",
)


_CATEGORY_COLUMNS = ("AP", "AP50", "AP75", "AP_small", "AP_medium", "AP_large", "AR100")


@dataclass(frozen=True)
class CocoEvaluation:
    """COCO's summary numbers and the same measures per category.

    Attributes:
        summary: The twelve COCO summary numbers by name (AP, AP50, ... AR_large).
        per_category: Per category name: AP, AP50, AP75, AP_small, AP_medium,
            AP_large and AR100 (NaN where the category has no ground truth of that size).

    """

    summary: dict[str, float]
    per_category: dict[str, dict[str, float]]


def coco_box_inputs(
    sizes: Sequence[tuple[int, int]],
    truth: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]],
    found: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]],
    categories: Sequence[str],
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A COCO dataset and COCO results from boxes per image (the one rule for photos).

    Args:
        sizes: ``(width, height)`` of each image (ids are 1, 2, ... in this order).
        truth: Per image: expert boxes ``(N, 4)`` xyxy, 0-based category indices,
            crowd flags (regions COCO ignores).
        found: Per image: detected boxes ``(M, 4)`` xyxy, scores, 0-based indices.
        categories: Category names (COCO ids are index + 1).

    Returns:
        The dataset (images, annotations with ``iscrowd``, categories) and the
        results, as `coco_evaluation` and `coco_map` take them.

    """
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    results: list[dict[str, Any]] = []
    for number, (
        (width, height),
        (boxes, labels, crowd),
        (found_boxes, scores, found_labels),
    ) in enumerate(zip(sizes, truth, found, strict=True), start=1):
        images.append({"id": number, "width": int(width), "height": int(height)})
        for box, label, ignore in zip(boxes, labels, crowd, strict=True):
            bbox = _xywh(box)
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": number,
                    "category_id": int(label) + 1,
                    "bbox": bbox,
                    "area": bbox[2] * bbox[3],
                    "iscrowd": int(ignore),
                }
            )
        for box, score, label in zip(found_boxes, scores, found_labels, strict=True):
            results.append(
                {
                    "image_id": number,
                    "category_id": int(label) + 1,
                    "bbox": _xywh(box),
                    "score": float(score),
                }
            )
    named = [{"id": i + 1, "name": name} for i, name in enumerate(categories)]
    return {"images": images, "annotations": annotations, "categories": named}, results


def _xywh(box: np.ndarray) -> list[float]:
    x0, y0, x1, y1 = (float(v) for v in box)
    return [x0, y0, x1 - x0, y1 - y0]


def coco_map(
    ground_truth: dict[str, Any],
    detections: list[dict[str, Any]],
    iou_type: Literal["bbox", "segm"] = "bbox",
) -> dict[str, Any]:
    """COCO AP@[.50:.95], AP50, AP75, by object size, recall, and AP per category.

    Args:
        ground_truth: A COCO dataset dict (images, annotations, categories).
        detections: COCO results: ``image_id``, ``category_id``, ``score`` and
            ``bbox`` (or ``segmentation`` RLE for ``segm``).
        iou_type: Boxes or masks.

    Returns:
        The twelve COCO summary numbers by name, ``per_category`` AP@[.50:.95]
        and ``per_category_ap50`` AP at IoU 0.5, by category name (NaN for
        categories without ground truth).

    """
    evaluation = coco_evaluation(ground_truth, detections, iou_type)
    rows = evaluation.per_category
    return {
        **evaluation.summary,
        "per_category": {name: row["AP"] for name, row in rows.items()},
        "per_category_ap50": {name: row["AP50"] for name, row in rows.items()},
    }


def coco_evaluation(
    ground_truth: dict[str, Any],
    detections: list[dict[str, Any]],
    iou_type: Literal["bbox", "segm"] = "bbox",
) -> CocoEvaluation:
    """COCO evaluation (faster-coco-eval) with the summary measures also per category.

    Annotations with ``iscrowd`` 1 are COCO's ignore regions: a detection on
    one is neither a hit nor a false positive. Per-category numbers slice COCO's
    accumulated precision and recall as its summary does (area "all" unless
    named, 100 detections per image), so they equal pycocotools' arrays.
    """
    from faster_coco_eval import COCO, COCOeval_faster

    with contextlib.redirect_stdout(io.StringIO()):  # the library prints its progress
        truth = COCO(ground_truth)
        results = truth.loadRes(detections) if detections else COCO()
        evaluator = COCOeval_faster(truth, results, iou_type, print_function=lambda *a: None)
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    summary = {
        name: float(value) for name, value in zip(_SUMMARY_NAMES, evaluator.stats, strict=False)
    }
    precision = evaluator.eval["precision"]  # iou x recall x category x area x max dets
    recall = evaluator.eval["recall"]  # iou x category x area x max dets
    thresholds = evaluator.params.iouThrs
    at_50 = int(np.flatnonzero(np.isclose(thresholds, 0.5))[0])
    at_75 = int(np.flatnonzero(np.isclose(thresholds, 0.75))[0])
    per_category = {}
    for index, category in enumerate(evaluator.params.catIds):
        values = (
            precision[:, :, index, 0, -1],
            precision[at_50, :, index, 0, -1],
            precision[at_75, :, index, 0, -1],
            *(precision[:, :, index, area, -1] for area in (1, 2, 3)),
            recall[:, index, 0, -1],
        )
        per_category[truth.cats[category]["name"]] = {
            name: _mean_defined(value)
            for name, value in zip(_CATEGORY_COLUMNS, values, strict=True)
        }
    return CocoEvaluation(summary, per_category)


def _mean_defined(values: np.ndarray) -> float:
    """COCO's mean over the entries it defined (-1 marks none), NaN without any."""
    defined = values[values > -1]
    return float(defined.mean()) if defined.size else float("nan")


@dataclass(frozen=True)
class Froc:
    """Lesion-level sensitivity against false positives per image."""

    false_positives_per_image: np.ndarray
    sensitivity: np.ndarray
    thresholds: np.ndarray

    def at(self, rates: tuple[float, ...] = FROC_RATES) -> dict[float, float]:
        """Best sensitivity reached with at most each rate of false positives per image."""
        out = {}
        for rate in rates:
            allowed = self.false_positives_per_image <= rate
            out[rate] = float(self.sensitivity[allowed].max()) if allowed.any() else 0.0
        return out


def froc(
    truth_boxes: dict[Any, np.ndarray],
    detections: dict[Any, tuple[np.ndarray, np.ndarray]],
    *,
    iou: float = 0.5,
    ignore: dict[Any, np.ndarray] | None = None,
) -> Froc:
    """FROC over images: a detection finds a lesion when their boxes overlap by `iou`.

    Args:
        truth_boxes: Per image, lesion boxes ``(n, 4)`` as ``[x0, y0, x1, y1]``.
        detections: Per image, ``(boxes (m, 4), scores (m,))``.
        iou: Overlap needed for a hit; each lesion counts once (highest score
            first), further detections on it are neither hits nor false positives.
        ignore: Per image, regions ``(k, 4)`` where detections are not counted
            (COCO's crowd boxes): a detection that finds no lesion and lies in one
            by at least `iou` of its own area is neither a hit nor a false positive.

    """
    images = set(truth_boxes) | set(detections)
    if not images:
        raise ValueError("FROC needs at least one image")
    total_lesions = sum(len(boxes) for boxes in truth_boxes.values())
    scores_all, hit_all, fp_all = [], [], []
    for image in images:
        lesions = truth_boxes.get(image, np.zeros((0, 4)))
        boxes, scores = detections.get(image, (np.zeros((0, 4)), np.zeros(0)))
        order = np.argsort(-np.asarray(scores), kind="stable")
        found = np.zeros(len(lesions), bool)
        for index in order:
            overlaps = _iou(boxes[index], lesions) if len(lesions) else np.zeros(0)
            best = int(np.argmax(overlaps)) if len(overlaps) else -1
            if best >= 0 and overlaps[best] >= iou:
                hit, false_positive = not found[best], False
                found[best] = True
            elif _ignored(boxes[index], (ignore or {}).get(image), iou):
                continue
            else:
                hit, false_positive = False, True
            scores_all.append(scores[index])
            hit_all.append(hit)
            fp_all.append(false_positive)
    order = np.argsort(-np.asarray(scores_all, dtype=np.float64), kind="stable")
    hits = np.cumsum(np.asarray(hit_all, bool)[order])
    fps = np.cumsum(np.asarray(fp_all, bool)[order])
    sensitivity = hits / total_lesions if total_lesions else np.zeros(len(hits))
    return Froc(
        np.concatenate([[0.0], fps / len(images)]),
        np.concatenate([[0.0], sensitivity]),
        np.concatenate([[np.inf], np.asarray(scores_all, np.float64)[order]]),
    )


def _ignored(box: np.ndarray, regions: np.ndarray | None, share: float) -> bool:
    """Whether at least `share` of `box`'s area lies in one of `regions`."""
    if regions is None or not len(regions):
        return False
    x0 = np.maximum(box[0], regions[:, 0])
    y0 = np.maximum(box[1], regions[:, 1])
    x1 = np.minimum(box[2], regions[:, 2])
    y1 = np.minimum(box[3], regions[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = max(float((box[2] - box[0]) * (box[3] - box[1])), 1e-12)
    return bool((inter / area >= share).any())


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    x0 = np.maximum(box[0], boxes[:, 0])
    y0 = np.maximum(box[1], boxes[:, 1])
    x1 = np.minimum(box[2], boxes[:, 2])
    y1 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / np.maximum(area + areas - inter, 1e-12)
