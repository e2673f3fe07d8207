"""``rcm evaluate`` on photo runs: numbers equal the reference libraries, clinicians, bad input."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sklearn.metrics import confusion_matrix, roc_auc_score, top_k_accuracy_score

from rcm.cli.main import main
from rcm.outputs import PhotoEvaluationDocument
from rcm.pipeline.evaluate_photos import (
    PhotoEvaluateOptions,
    PhotoEvaluationInputError,
    evaluate_photo_outputs,
)
from tests.report.fake_photo_runs import (
    CATEGORIES,
    write_custom_set,
    write_photo_set,
    write_run,
)

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FAST = PhotoEvaluateOptions(bootstrap=100, examples=2)


def _evaluate(*words: object) -> tuple[int, dict]:
    arguments = [str(word) for word in words]
    code = main(["evaluate", *arguments, "--bootstrap", "100"])
    out = Path(arguments[arguments.index("--out") + 1])
    metrics = json.loads((out / "metrics.json").read_text()) if code == 0 else {}
    return code, metrics


def test_classifier_metrics_equal_scikit_learn(tmp_path: Path) -> None:
    photos = write_photo_set(tmp_path / "set", photos=60, calibrated=True)
    code, metrics = _evaluate(photos.output, "--truth", photos.coco, "--out", tmp_path / "eval")
    assert code == 0
    scores = np.round(photos.scores, 6)
    for index, name in enumerate(CATEGORIES):
        expected = roc_auc_score(photos.truth[:, index], scores[:, index])
        assert metrics["auroc"][name]["estimate"] == pytest.approx(expected, abs=1e-12)
    assert metrics["macro_auroc"]["estimate"] == pytest.approx(
        roc_auc_score(photos.truth, scores, average="macro")
    )
    assert metrics["micro_auroc"]["estimate"] == pytest.approx(
        roc_auc_score(photos.truth, scores, average="micro")
    )
    low, high = metrics["macro_auroc"]["low"], metrics["macro_auroc"]["high"]
    assert low < metrics["macro_auroc"]["estimate"] < high
    # Calibration is measured on the calibrated columns when the run has them.
    assert metrics["probabilities"] == "calibrated"
    calibrated = np.round(scores**1.5, 6)
    brier = np.mean((calibrated[:, 1] - photos.truth[:, 1]) ** 2)
    assert metrics["calibration"]["per_category"]["melanoma"]["brier"] == pytest.approx(brier)
    document = PhotoEvaluationDocument.read(tmp_path / "eval" / "metrics.json")
    assert document.counts.images == 60 and document.counts.patients == 30
    page = (tmp_path / "eval" / "report.html").read_text()
    assert "id='roc-grid'" in page and "id='reliability'" in page and "id='confusion'" in page
    assert "http://" not in page and "https://" not in page  # nothing to fetch


def test_single_label_top_k_and_confusion_equal_scikit_learn(tmp_path: Path) -> None:
    photos = write_photo_set(tmp_path / "set", photos=80, labels="single", seed=3)
    code, metrics = _evaluate(photos.output, "--truth", photos.coco, "--out", tmp_path / "eval")
    assert code == 0 and metrics["labels"] == "single"
    single = photos.truth.sum(axis=1) == 1
    labels = np.argmax(photos.truth[single], axis=1)
    scores = np.round(photos.scores, 6)[single]
    for k in (1, 3):
        expected = top_k_accuracy_score(labels, scores, k=k, labels=np.arange(4))
        assert metrics["top_k"][f"top{k}"]["estimate"] == pytest.approx(expected)
    expected = confusion_matrix(labels, np.argmax(scores, axis=1), labels=np.arange(4))
    assert metrics["confusion_matrix"]["counts"] == expected.tolist()
    assert metrics["top_k"]["photos"] == int(single.sum())


def test_detector_map_equals_pycocotools(tmp_path: Path) -> None:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    photos = write_photo_set(tmp_path / "set", photos=40, task="photo-detector", crowd=True)
    code, metrics = _evaluate(photos.output, "--truth", photos.coco, "--out", tmp_path / "eval")
    assert code == 0
    truth = json.loads(photos.coco.read_text())
    for annotation in truth["annotations"]:
        annotation.setdefault("area", annotation["bbox"][2] * annotation["bbox"][3])
    results = json.loads((photos.output / "instances.json").read_text())
    with contextlib.redirect_stdout(io.StringIO()):
        reference = COCO()
        reference.dataset = truth
        reference.createIndex()
        evaluator = COCOeval(reference, reference.loadRes(results), "bbox")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    detection = metrics["detection"]
    assert [detection[k] for k in ("AP", "AP50", "AP75")] == pytest.approx(evaluator.stats[:3])
    precision = evaluator.eval["precision"]
    for index, name in enumerate(CATEGORIES):
        values = precision[:, :, index, 0, 2]
        expected = values[values > -1].mean()
        assert detection["per_category"][name]["AP"] == pytest.approx(expected)
    assert metrics["counts"]["crowd_boxes"] == 1
    assert metrics["froc"]["pooled"]["lesions"] == metrics["counts"]["boxes"]


def _hand_example(root: Path) -> tuple[Path, Path]:
    """Ten photos: 0-3 melanoma, 4-9 nevus; one reader's calls (worked out in the test)."""
    melanoma = np.array([0.9, 0.8, 0.4, 0.3, 0.7, 0.2, 0.1, 0.15, 0.05, 0.6])
    scores = np.stack([melanoma, 1 - melanoma], axis=1)
    categories_of = [("melanoma",)] * 4 + [("nevus",)] * 6
    photos = write_custom_set(root, categories_of, scores, categories=("melanoma", "nevus"))
    calls = {0: "melanoma", 4: "melanoma", 5: "melanoma"}
    lines = ["reader,image,category"]
    for index, image in enumerate(photos.images):
        lines.append(f"dr_a,{image},{calls.get(index, 'nevus')}")
        lines.append(f"dr_b,{image},{'melanoma' if index < 4 else ''}")
    reads = root / "reads.csv"
    reads.write_text("\n".join(lines) + "\n")
    return photos.output, photos.coco, reads  # type: ignore[return-value]


def test_reader_comparison_by_hand(tmp_path: Path) -> None:
    output, coco, reads = _hand_example(tmp_path / "set")  # type: ignore[misc]
    result = evaluate_photo_outputs(output, coco, tmp_path / "eval", FAST, readers=reads)
    melanoma = {
        r["reader"]: r for r in result.document.metrics["readers"]["per_category"]["melanoma"]
    }
    reader = melanoma["dr_a"]
    # dr_a calls melanoma on photos 0, 4, 5: sensitivity 1/4, specificity 4/6.
    assert reader["sensitivity"] == pytest.approx(0.25)
    assert reader["specificity"] == pytest.approx(4 / 6)
    # At most 2 of 6 false positives the model reaches threshold 0.3: all 4 melanomas.
    assert reader["model_sensitivity_at_reader_specificity"] == pytest.approx(1.0)
    assert reader["model_specificity_at_reader_sensitivity"] == pytest.approx(1.0)
    test = reader["paired_test"]
    assert test["threshold"] == pytest.approx(0.3)
    # Only the model right: photos 1, 2, 3, 5; only the reader: photo 9 (0.6, a nevus).
    assert (test["only_first"], test["only_second"]) == (4, 1)
    assert test["p_value"] == pytest.approx(2 * 6 / 32)  # 2 P(X <= 1), X ~ Binomial(5, 1/2)
    assert melanoma["dr_b"]["sensitivity"] == 1.0 and melanoma["dr_b"]["specificity"] == 1.0
    average = melanoma["average"]
    assert average["sensitivity"] == pytest.approx((0.25 + 1.0) / 2)
    diagnosis = {
        entry["reader"]: entry for entry in result.document.metrics["readers"]["diagnosis"]
    }
    assert diagnosis["dr_a"]["reader_accuracy"] == pytest.approx(5 / 10)  # 0 and 6..9
    assert diagnosis["dr_a"]["model_accuracy"] == pytest.approx(6 / 10)  # 2, 3, 4 and 9 wrong


def test_reads_problems_name_the_file_and_line(tmp_path: Path) -> None:
    output, coco, reads = _hand_example(tmp_path / "set")  # type: ignore[misc]
    text = reads.read_text() + "dr_a,images/elsewhere.jpg,nevus\ndr_c,images/c000.jpg,wart\n"
    reads.write_text(text)
    with pytest.raises(PhotoEvaluationInputError) as caught:
        evaluate_photo_outputs(output, coco, tmp_path / "eval", FAST, readers=reads)
    messages = [str(problem) for problem in caught.value.problems]
    assert any(
        f"{reads}:22: images/elsewhere.jpg" in m and "not in the truth" in m for m in messages
    )
    assert any(f"{reads}:23:" in m and "unknown category 'wart'" in m for m in messages)
    assert not (tmp_path / "eval").exists()


def test_split_part_restricts_the_photos(tmp_path: Path) -> None:
    photos = write_photo_set(tmp_path / "set", photos=40)
    split = tmp_path / "split.csv"
    rows = ["item_id,patient_id,category,split"]
    for image, patient in zip(photos.images, photos.patients, strict=True):
        part = "test" if int(patient.removeprefix("pt")) % 2 else "train"
        rows.append(f"{image},{patient},x,{part}")
    split.write_text("\n".join(rows) + "\n")
    code, metrics = _evaluate(
        photos.output, "--truth", photos.coco, "--split", split, "--out", tmp_path / "eval"
    )
    assert code == 0 and metrics["part"] == "test"
    assert metrics["counts"]["images"] == 20 and "split" in metrics["inputs"]


def _rewrite_predictions(output: Path, edit: object) -> None:
    path = output / "predictions.csv"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(edit(lines)) + "\n")  # type: ignore[operator]


def _nan_cell(lines: list[str]) -> list[str]:
    cells = lines[3].split(",")
    cells[5] = "nan"  # p_melanoma of the third photo
    return [*lines[:3], ",".join(cells), *lines[4:]]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda lines: lines[:5] + lines[6:], "predictions.csv: images/p004.jpg: no prediction"),
        (_nan_cell, "predictions.csv: line 4"),
        (lambda lines: [lines[0].replace("p_scc", "p_wart"), *lines[1:]], "categories"),
    ],
    ids=["missing-photo", "nan", "other-categories"],
)
def test_bad_predictions_exit_2_naming_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], edit: object, message: str
) -> None:
    photos = write_photo_set(tmp_path / "set", photos=20)
    _rewrite_predictions(photos.output, edit)
    code = main(
        ["evaluate", str(photos.output), "--truth", str(photos.coco), "--out", str(tmp_path / "e")]
    )
    assert code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "e").exists()


def test_predictions_of_photos_outside_the_truth_are_errors(tmp_path: Path) -> None:
    photos = write_photo_set(tmp_path / "set", photos=10)
    images = (*photos.images, "images/stranger.jpg")
    scores = np.vstack([photos.scores, np.full((1, 4), 0.5)])
    write_run(photos.output, images, scores)
    with pytest.raises(PhotoEvaluationInputError) as caught:
        evaluate_photo_outputs(photos.output, photos.coco, tmp_path / "eval", FAST)
    assert any("stranger.jpg: not in the truth" in str(p) for p in caught.value.problems)


def test_photo_flags_are_refused_for_mosaic_outputs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "outputs").mkdir()
    (tmp_path / "truth.csv").write_text("mosaic_id,patient_id,label\nm,p,benign\n")
    code = main(
        ["evaluate", str(tmp_path / "outputs"), "--truth", str(tmp_path / "truth.csv"),
         "--split", "split.csv", "--out", str(tmp_path / "e")]
    )  # fmt: skip
    assert code == 2
    assert "--split applies to a photo run" in capsys.readouterr().err


@pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium (scripts/test.sh installs it)")
def test_photo_report_renders_in_headless_chromium(tmp_path: Path) -> None:
    photos = write_photo_set(tmp_path / "set", photos=40, task="photo-detector")
    reads = tmp_path / "reads.csv"
    rows = ["reader,image,category"]
    for image, shown in zip(photos.images, photos.truth, strict=True):
        called = [name for name, on in zip(CATEGORIES, shown, strict=True) if on] or [""]
        rows += [f"dr_{reader},{image},{name}" for reader in "ab" for name in called]
    reads.write_text("\n".join(rows) + "\n")
    report = tmp_path / "eval"
    evaluate_photo_outputs(photos.output, photos.coco, report, FAST, readers=reads)
    screenshot = tmp_path / "page.png"
    result = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--enable-logging=stderr",
            "--v=0",
            "--window-size=1250,1400",
            f"--screenshot={screenshot}",
            (report / "report.html").as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert screenshot.exists(), result.stderr[-2000:]
    assert [line for line in result.stderr.splitlines() if "CONSOLE" in line] == []
    assert "Failed to load resource" not in result.stderr
    pixels = np.asarray(Image.open(screenshot).convert("RGB")).astype(int)
    roc_blue = np.abs(pixels - [31, 119, 180]).sum(axis=-1) < 40  # the ROC curves
    assert roc_blue.sum() > 200, roc_blue.sum()
    page = (report / "report.html").read_text()
    assert "Compared with clinicians" in page and "<h2>Detection</h2>" in page


def test_voc_truth_gives_the_coco_numbers(tmp_path: Path) -> None:
    from rcm.data import from_coco, write_voc

    photos = write_photo_set(tmp_path / "set", photos=30)
    write_voc(from_coco(photos.coco), tmp_path / "set")
    from_coco_truth = evaluate_photo_outputs(photos.output, photos.coco, tmp_path / "a", FAST)
    from_voc_truth = evaluate_photo_outputs(photos.output, tmp_path / "set", tmp_path / "b", FAST)
    assert from_voc_truth.document.auroc == from_coco_truth.document.auroc
    assert from_voc_truth.document.inputs["truth"] != from_coco_truth.document.inputs["truth"]


def test_detector_boxes_are_compared_upright(tmp_path: Path) -> None:
    """Truth boxes are in stored pixels; a photo with EXIF orientation 6 is scored upright."""
    from rcm.data import PhotoBox, PhotoDataset, PhotoRecord, to_coco
    from rcm.outputs import DetectionResults

    root = tmp_path / "set"
    (root / "images").mkdir(parents=True)
    records = []
    for index, orientation in enumerate((6, 1)):
        exif = Image.Exif()
        exif[0x0112] = orientation
        Image.new("RGB", (64, 48), (120, 80, 60)).save(root / f"images/{index}.jpg", exif=exif)
        box = PhotoBox("melanoma", 4.0, 4.0, 20.0, 10.0)
        records.append(
            PhotoRecord(f"images/{index}.jpg", 64, 48, 3, f"p{index}", None, None, [box])
        )
    dataset = PhotoDataset(("melanoma", "nevus"), tuple(records))
    coco = root / "annotations.coco.json"
    coco.write_text(json.dumps(to_coco(dataset)))
    output = root / "run"
    output.mkdir()
    images = tuple(record.image for record in records)
    scores = np.array([[0.9, 0.1], [0.8, 0.2]])
    sizes = np.array([[48, 64], [64, 48]])  # the first photo is upright portrait
    write_run(output, images, scores, task="photo-detector", categories=("melanoma", "nevus"),
              sizes=sizes)  # fmt: skip
    # Upright, orientation 6 puts stored (4, 4, 24, 14) at (34, 4, 44, 24).
    found = [
        {"image_id": 1, "category_id": 1, "bbox": [34.0, 4.0, 10.0, 20.0], "score": 0.9},
        {"image_id": 2, "category_id": 1, "bbox": [4.0, 4.0, 20.0, 10.0], "score": 0.8},
    ]
    DetectionResults(tuple(found)).write(output / "instances.json")
    result = evaluate_photo_outputs(output, coco, tmp_path / "eval", FAST)
    assert result.document.metrics["detection"]["AP50"] == pytest.approx(1.0)
    assert result.document.metrics["froc"]["pooled"]["at"]["0.125"] == 1.0


def test_metrics_json_round_trips_and_names_bad_parts(tmp_path: Path) -> None:
    from rcm.errors import OutputFormatError

    photos = write_photo_set(tmp_path / "set", photos=20)
    result = evaluate_photo_outputs(photos.output, photos.coco, tmp_path / "eval", FAST)
    back = PhotoEvaluationDocument.read(result.metrics_path)
    assert back.to_json() == json.loads(json.dumps(result.document.to_json()))
    data = json.loads(result.metrics_path.read_text())
    data["macro_auroc"]["low"] = "low"
    result.metrics_path.write_text(json.dumps(data))
    with pytest.raises(OutputFormatError, match=r"macro_auroc\.low must be float"):
        PhotoEvaluationDocument.read(result.metrics_path)
    data["schema_version"] = 99
    result.metrics_path.write_text(json.dumps(data))
    with pytest.raises(OutputFormatError, match="upgrade rcm"):
        PhotoEvaluationDocument.read(result.metrics_path)


def test_photos_the_run_skipped_are_left_out_with_a_warning(tmp_path: Path) -> None:
    from rcm.outputs import PhotoRunSummary, SkippedPhoto

    photos = write_photo_set(tmp_path / "set", photos=20)
    write_run(photos.output, photos.images[1:], photos.scores[1:])
    path = photos.output / "summary.json"
    summary = PhotoRunSummary.read(path)
    skipped = (SkippedPhoto(photos.images[0], "not a readable image"),)
    PhotoRunSummary(**{**vars(summary), "skipped": skipped}).write(path)
    result = evaluate_photo_outputs(photos.output, photos.coco, tmp_path / "eval", FAST)
    assert result.document.counts.images == 19
    (problem,) = [p for p in result.problems if p.image == photos.images[0]]
    assert problem.severity == "warning" and "skipped by the run" in problem.message
    strict = PhotoEvaluateOptions(bootstrap=100, examples=0, strict=True)
    with pytest.raises(PhotoEvaluationInputError):
        evaluate_photo_outputs(photos.output, photos.coco, tmp_path / "strict", strict)


def test_voc_difficult_boxes_are_ignored_as_coco_crowd_boxes_are(tmp_path: Path) -> None:
    from rcm.data import from_coco, write_voc

    photos = write_photo_set(tmp_path / "set", photos=30, task="photo-detector", crowd=True)
    dataset = from_coco(photos.coco)
    assert sum(box.crowd for record in dataset.images for box in record.boxes) == 1
    write_voc(dataset, tmp_path / "set")
    coco = evaluate_photo_outputs(photos.output, photos.coco, tmp_path / "a", FAST).document
    voc = evaluate_photo_outputs(photos.output, tmp_path / "set", tmp_path / "b", FAST).document
    assert voc.counts.crowd_boxes == coco.counts.crowd_boxes == 1
    same = [json.dumps(d.metrics["detection"], sort_keys=True) for d in (voc, coco)]  # NaN too
    assert same[0] == same[1] and voc.auroc == coco.auroc
