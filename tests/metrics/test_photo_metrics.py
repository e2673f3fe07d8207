"""Photo metrics against scikit-learn and pycocotools, and the vectorised patient bootstrap."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score, top_k_accuracy_score

from rcm.metrics import (
    PatientBootstrap,
    bootstrap_ci,
    category_aurocs,
    coco_evaluation,
    fast_auroc,
    froc,
    mcnemar_exact,
    patient_resamples,
    ratio_intervals,
    top_k_hits,
)

CATEGORIES = ("nevus", "melanoma", "bcc", "scc")


def _cohort(seed: int, images: int = 240, patients: int = 70) -> tuple[np.ndarray, ...]:
    """Multi-label truth, scores that follow it (with ties), and a patient per image."""
    rng = np.random.default_rng(seed)
    truth = rng.random((images, len(CATEGORIES))) < [0.4, 0.2, 0.15, 0.1]
    truth[:2] = [[True, False, True, False], [False, True, False, True]]
    scores = np.round(np.clip(truth * 0.35 + rng.random(truth.shape) * 0.65, 0, 1), 2)
    groups = np.array([f"p{i:03d}" for i in rng.integers(0, patients, images)])
    return truth, scores, groups


def test_category_aurocs_equal_scikit_learn() -> None:
    truth, scores, groups = _cohort(0)
    result = category_aurocs(truth, scores, CATEGORIES, PatientBootstrap.draw(groups, 50, 1))
    per_category = roc_auc_score(truth, scores, average=None)
    for interval, reference in zip(result.per_category, per_category, strict=True):
        assert interval is not None and interval.estimate == pytest.approx(reference, abs=1e-15)
    assert result.macro is not None and result.micro is not None
    assert result.macro.estimate == pytest.approx(roc_auc_score(truth, scores, average="macro"))
    assert result.micro.estimate == pytest.approx(roc_auc_score(truth, scores, average="micro"))
    assert result.macro.low <= result.macro.estimate <= result.macro.high


def test_category_without_both_classes_has_no_auroc_and_is_left_out_of_macro() -> None:
    truth, scores, groups = _cohort(1)
    truth[:, 3] = False
    result = category_aurocs(truth, scores, CATEGORIES, PatientBootstrap.draw(groups, 20, 0))
    assert result.by_name()["scc"] is None
    assert result.macro is not None
    expected = roc_auc_score(truth[:, :3], scores[:, :3], average="macro")
    assert result.macro.estimate == pytest.approx(expected)


def test_resampled_aurocs_equal_the_loop_over_patient_resamples() -> None:
    _, scores, groups = _cohort(2, images=150, patients=30)
    labels = np.isin(groups, np.unique(groups)[:2])  # two patients show it
    values = np.where(labels, scores[:, 2] + 0.2, scores[:, 2])
    bootstrap = PatientBootstrap.draw(groups, 300, 7)
    vectorised = bootstrap.interval(roc_auc_score(labels, values), bootstrap.aurocs(labels, values))
    looped = bootstrap_ci(
        lambda i: fast_auroc(labels[i], values[i]), groups, n_resamples=300, seed=7
    )
    assert vectorised.skipped == looped.skipped > 0  # rare category: some resamples lack it
    assert vectorised.resamples == looped.resamples
    assert vectorised.low == pytest.approx(looped.low, abs=1e-12)
    assert vectorised.high == pytest.approx(looped.high, abs=1e-12)


def test_the_bootstrap_resamples_patients_not_images() -> None:
    truth, scores, groups = _cohort(3, images=80, patients=80)
    groups = np.array([f"p{i}" for i in range(80)])
    labels, values = truth[:, 0], scores[:, 0]
    once = PatientBootstrap.draw(groups, 200, 3).aurocs(labels, values)
    # Ten identical photos per patient: a patient's copies are drawn together, so
    # every resample's AUROC is that of the one-photo cohort.
    copies = np.repeat(np.arange(80), 10)
    tenfold = PatientBootstrap.draw(groups[copies], 200, 3)
    assert (tenfold.counts.sum(axis=1) == 80).all()
    np.testing.assert_allclose(tenfold.aurocs(labels[copies], values[copies]), once)
    # Drawn as 800 independent images, the same photos give a far narrower interval.
    images = PatientBootstrap.draw(np.arange(800), 200, 3).aurocs(labels[copies], values[copies])
    assert np.std(images) < 0.5 * np.std(once)


def test_ratio_intervals_equal_the_loop() -> None:
    truth, scores, groups = _cohort(4)
    called = scores[:, 1] >= 0.5
    positive = truth[:, 1]
    bootstrap = PatientBootstrap.draw(groups, 200, 5)
    (sensitivity,) = ratio_intervals(
        bootstrap, (called & positive)[:, None], positive[:, None].astype(float)
    )

    def looped(indices: np.ndarray) -> float:
        if not positive[indices].any():
            raise ValueError("no positives")
        return float(np.mean(called[indices][positive[indices]]))

    reference = bootstrap_ci(looped, groups, n_resamples=200, seed=5)
    assert sensitivity.estimate == pytest.approx(reference.estimate)
    assert (sensitivity.low, sensitivity.high) == pytest.approx((reference.low, reference.high))


def test_draw_counts_are_the_resamples_of_patient_resamples() -> None:
    groups = np.array(["b", "a", "c", "a", "b", "d"])
    bootstrap = PatientBootstrap.draw(groups, 40, 11)
    for row, indices in zip(bootstrap.counts, patient_resamples(groups, 40, 11), strict=True):
        expected = np.bincount(bootstrap.patient[indices], minlength=4) // np.bincount(
            bootstrap.patient
        )
        np.testing.assert_array_equal(row, expected)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_top_k_equals_scikit_learn(k: int) -> None:
    rng = np.random.default_rng(k)
    scores = rng.random((200, 5))
    labels = rng.integers(0, 5, 200)
    expected = top_k_accuracy_score(labels, scores, k=k, labels=np.arange(5))
    assert top_k_hits(labels, scores, k).mean() == pytest.approx(expected)


def test_mcnemar_by_hand() -> None:
    # b = 1 case only the first got right, c = 6 only the second; 5 both, 3 neither.
    first = np.array([1] + [0] * 6 + [1] * 5 + [0] * 3, bool)
    second = np.array([0] + [1] * 6 + [1] * 5 + [0] * 3, bool)
    result = mcnemar_exact(first, second)
    assert (result.cases, result.only_first, result.only_second) == (15, 1, 6)
    # Two-sided exact: 2 * P(X <= 1), X ~ Binomial(7, 1/2) = 2 * (1 + 7) / 128.
    assert result.p_value == pytest.approx(0.125)
    assert mcnemar_exact(first, first).p_value == 1.0


def _coco_case(seed: int) -> tuple[dict, list[dict]]:
    """Images with boxes of two categories and sizes, one crowd region, noisy detections."""
    rng = np.random.default_rng(seed)
    images, annotations, results = [], [], []
    for image_id in range(1, 13):
        images.append({"id": image_id, "width": 640, "height": 480})
        for _ in range(int(rng.integers(0, 4))):
            size = float(rng.choice([20, 60, 150]))
            x, y = float(rng.uniform(0, 400)), float(rng.uniform(0, 300))
            category = int(rng.integers(1, 3))
            crowd = int(rng.random() < 0.1)
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": category,
                    "bbox": [x, y, size, size],
                    "area": size * size,
                    "iscrowd": crowd,
                }
            )
            if rng.random() < 0.8:
                jitter = rng.normal(0, size * 0.1, 4)
                results.append(
                    {
                        "image_id": image_id,
                        "category_id": category if rng.random() < 0.85 else 3 - category,
                        "bbox": [x + jitter[0], y + jitter[1], size + jitter[2], size + jitter[3]],
                        "score": float(rng.random()),
                    }
                )
        for _ in range(2):
            results.append(
                {
                    "image_id": image_id,
                    "category_id": int(rng.integers(1, 3)),
                    "bbox": [float(v) for v in rng.uniform(0, 300, 4)],
                    "score": float(rng.random() * 0.5),
                }
            )
    categories = [{"id": 1, "name": "nevus"}, {"id": 2, "name": "melanoma"}]
    return {"images": images, "annotations": annotations, "categories": categories}, results


def test_coco_evaluation_per_category_equals_pycocotools() -> None:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    truth, results = _coco_case(0)
    assert any(a["iscrowd"] for a in truth["annotations"])
    ours = coco_evaluation(truth, results)
    with contextlib.redirect_stdout(io.StringIO()):
        reference = COCO()
        reference.dataset = truth
        reference.createIndex()
        evaluator = COCOeval(reference, reference.loadRes(results), "bbox")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    assert [ours.summary[name] for name in ("AP", "AP50", "AP75")] == pytest.approx(
        evaluator.stats[:3], abs=1e-12
    )
    precision, recall = evaluator.eval["precision"], evaluator.eval["recall"]

    def mean(values: np.ndarray) -> float:
        values = values[values > -1]
        return float(values.mean()) if values.size else float("nan")

    for index, name in enumerate(("nevus", "melanoma")):
        row = ours.per_category[name]
        expected = {
            "AP": mean(precision[:, :, index, 0, 2]),
            "AP50": mean(precision[0, :, index, 0, 2]),
            "AP75": mean(precision[5, :, index, 0, 2]),
            "AP_small": mean(precision[:, :, index, 1, 2]),
            "AP_medium": mean(precision[:, :, index, 2, 2]),
            "AP_large": mean(precision[:, :, index, 3, 2]),
            "AR100": mean(recall[:, index, 0, 2]),
        }
        assert row == pytest.approx(expected, abs=1e-12, nan_ok=True)


def test_froc_ignores_detections_on_crowd_regions() -> None:
    lesions = {"a": np.array([[0.0, 0, 10, 10]])}
    found = {"a": (np.array([[0.0, 0, 10, 10], [50, 50, 60, 60]]), np.array([0.9, 0.8]))}
    counted = froc(lesions, found)
    assert counted.false_positives_per_image[-1] == 1.0
    ignored = froc(lesions, found, ignore={"a": np.array([[45.0, 45, 70, 70]])})
    assert ignored.false_positives_per_image[-1] == 0.0
    assert ignored.sensitivity[-1] == 1.0
