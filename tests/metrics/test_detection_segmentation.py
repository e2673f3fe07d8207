from __future__ import annotations

import contextlib
import io
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
from sklearn.metrics import f1_score, jaccard_score

from rcm.metrics import coco_map, froc, overlap


def _random_dataset(seed: int) -> tuple[dict, list[dict]]:
    rng = np.random.default_rng(seed)
    images = [{"id": i, "width": 640, "height": 480} for i in range(1, rng.integers(2, 8))]
    categories = [{"id": c, "name": f"c{c}"} for c in (1, 2, 3)]
    annotations, detections = [], []
    for image in images:
        for _ in range(rng.integers(0, 6)):
            x, y = rng.uniform(0, 500), rng.uniform(0, 380)
            w, h = rng.uniform(4, 140), rng.uniform(4, 100)
            category = int(rng.integers(1, 4))
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image["id"],
                    "category_id": category,
                    "bbox": [x, y, w, h],
                    "area": w * h,
                    "iscrowd": 0,
                }
            )
            if rng.uniform() < 0.8:  # a noisy detection of it
                jitter = rng.normal(0, 8, 4)
                detections.append(
                    {
                        "image_id": image["id"],
                        "category_id": category,
                        "bbox": [
                            x + jitter[0],
                            y + jitter[1],
                            max(1, w + jitter[2]),
                            max(1, h + jitter[3]),
                        ],
                        "score": float(rng.uniform()),
                    }
                )
        for _ in range(rng.integers(0, 4)):  # false positives
            detections.append(
                {
                    "image_id": image["id"],
                    "category_id": int(rng.integers(1, 4)),
                    "bbox": [
                        rng.uniform(0, 500),
                        rng.uniform(0, 380),
                        rng.uniform(4, 100),
                        rng.uniform(4, 100),
                    ],
                    "score": float(rng.uniform()),
                }
            )
    return {"images": images, "categories": categories, "annotations": annotations}, detections


def _pycocotools(truth: dict, detections: list[dict]) -> np.ndarray:
    return _pycocotools_evaluator(truth, detections).stats


def _pycocotools_evaluator(truth: dict, detections: list[dict]) -> COCOeval:
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = truth
        gt.createIndex()
        evaluator = COCOeval(gt, gt.loadRes(detections), "bbox")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return evaluator


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000))
def test_map_equals_pycocotools(seed: int) -> None:
    truth, detections = _random_dataset(seed)
    if not detections or not truth["annotations"]:
        return
    ours = coco_map(truth, detections)
    reference = _pycocotools(truth, detections)
    names = [
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
    ]
    for name, value in zip(names, reference, strict=True):
        assert abs(ours[name] - value) <= 1e-12, (name, ours[name], value)


@pytest.mark.parametrize("seed", [3, 17, 2024])
def test_per_category_ap_and_ap50_equal_pycocotools(seed: int) -> None:
    truth, detections = _random_dataset(seed)
    assert detections and truth["annotations"]
    ours = coco_map(truth, detections)
    precision = _pycocotools_evaluator(truth, detections).eval["precision"]
    names = {c["id"]: c["name"] for c in truth["categories"]}
    for index, category in enumerate(sorted(names)):
        name = names[category]
        for key, values in (
            ("per_category", precision[:, :, index, 0, -1]),
            ("per_category_ap50", precision[0, :, index, 0, -1]),
        ):
            defined = values[values > -1]
            expected = float(defined.mean()) if defined.size else math.nan
            assert ours[key][name] == pytest.approx(expected, abs=1e-12, nan_ok=True), (key, name)


def test_per_category_ap() -> None:
    truth = {
        "images": [{"id": 1, "width": 100, "height": 100}],
        "categories": [{"id": 1, "name": "nevus"}, {"id": 2, "name": "melanoma"}],
        "annotations": [
            {
                "id": 1,
                "image_id": 1,
                "category_id": 1,
                "bbox": [10, 10, 20, 20],
                "area": 400,
                "iscrowd": 0,
            }
        ],
    }
    result = coco_map(
        truth, [{"image_id": 1, "category_id": 1, "bbox": [10, 10, 20, 20], "score": 0.9}]
    )
    assert result["AP"] == 1.0 and result["per_category"]["nevus"] == 1.0
    assert result["per_category_ap50"]["nevus"] == 1.0
    assert np.isnan(result["per_category"]["melanoma"])
    assert np.isnan(result["per_category_ap50"]["melanoma"])
    # IoU 0.56 passes the thresholds 0.5 and 0.55: AP50 is 1, AP@[.5:.95] 2 of 10.
    shifted = {"image_id": 1, "category_id": 1, "bbox": [10, 10, 20, 11.2], "score": 0.9}
    result = coco_map(truth, [shifted])
    assert result["per_category_ap50"]["nevus"] == 1.0
    assert result["per_category"]["nevus"] == pytest.approx(0.2)
    assert coco_map(truth, [])["AP"] == 0.0


def test_froc_by_hand() -> None:
    truth = {"a": np.array([[0, 0, 10, 10], [50, 50, 60, 60]]), "b": np.array([[0, 0, 10, 10]])}
    detections = {
        "a": (
            np.array([[0, 0, 10, 10], [20, 20, 30, 30], [50, 50, 60, 61]]),
            np.array([0.9, 0.8, 0.3]),
        ),
        "b": (np.array([[100, 100, 110, 110]]), np.array([0.5])),
    }
    curve = froc(truth, detections)
    # Scores in order: 0.9 hit, 0.8 FP, 0.5 FP, 0.3 hit -> sensitivity 1/3, 1/3, 1/3, 2/3
    np.testing.assert_allclose(curve.sensitivity, [0, 1 / 3, 1 / 3, 1 / 3, 2 / 3])
    np.testing.assert_allclose(curve.false_positives_per_image, [0, 0, 0.5, 1.0, 1.0])
    points = curve.at((0.125, 0.5, 1.0, 8.0))
    assert points == {
        0.125: pytest.approx(1 / 3),
        0.5: pytest.approx(1 / 3),
        1.0: pytest.approx(2 / 3),
        8.0: pytest.approx(2 / 3),
    }


@settings(max_examples=50)
@given(st.integers(0, 10_000))
def test_binary_dice_and_iou_equal_scikit_learn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    truth = rng.uniform(size=(20, 30)) < 0.3
    prediction = rng.uniform(size=(20, 30)) < 0.3
    if not truth.any() and not prediction.any():
        return
    counts = overlap(prediction, truth)
    assert counts.dice == pytest.approx(f1_score(truth.ravel(), prediction.ravel()), abs=1e-12)
    assert counts.iou == pytest.approx(jaccard_score(truth.ravel(), prediction.ravel()), abs=1e-12)
    # Counts of chunks add up to the counts of the whole.
    parts = overlap(prediction[:7], truth[:7]) + overlap(prediction[7:], truth[7:])
    assert parts.dice == pytest.approx(counts.dice)


def test_fuzzy_metrics() -> None:
    raters = np.array([[1.0, 0.5, 0.0, 0.0]])
    perfect = overlap(raters, raters)
    assert perfect.dice == 1.0 and perfect.sensitivity == 1.0 and perfect.specificity == 1.0
    half = overlap(np.array([[0.5, 0.5, 0.5, 0.0]]), raters)
    assert half.sensitivity == pytest.approx(1.0 / 1.5)
    assert half.specificity == pytest.approx((0.5 + 0.5 + 1.0) / 2.5)
    with pytest.raises(ValueError):
        overlap(np.array([2.0]), np.array([1.0]))
