"""A photo run's files: exact round trips, and bad files named with the field or line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rcm.outputs import (
    DetectionResults,
    InstancesBlock,
    MosaicSummary,
    OutputFormatError,
    PhotoModelRecord,
    PhotoPredictions,
    PhotoRunSummary,
    PhotoSourceRecord,
    SkippedPhoto,
    SkippedPhotos,
)


def _summary(task: str = "photo-classifier") -> PhotoRunSummary:
    detector = task == "photo-detector"
    return PhotoRunSummary(
        task=task,  # type: ignore[arg-type]
        model=PhotoModelRecord(
            name="derm",
            file="/models/derm.safetensors",
            checksum="sha256:ab",
            architecture="fasterrcnn" if detector else "efficientnet_b0",
            categories=("melanoma", "nevus"),
            positive=("melanoma",),
            input_px=384,
            calibration=None if detector else "temperature",
            settings={"fit": "centre", "labels": "single"},
        ),
        source=PhotoSourceRecord("set/annotations.coco.json", "coco", "set", "sha256:cd"),
        images=2,
        options={"batch_size": 8},
        timings={"total_s": 1.5, "photos": 2},
        versions={"rcm": "0.2.0"},
        skipped=(SkippedPhoto("bad.jpg", "not a readable image"),),
        instances=InstancesBlock(3, {"melanoma": 2, "nevus": 1}) if detector else None,
    )


@pytest.mark.parametrize("task", ["photo-classifier", "photo-detector"])
def test_a_photo_summary_round_trips_exactly(tmp_path: Path, task: str) -> None:
    summary = _summary(task)
    path = tmp_path / "summary.json"
    summary.write(path)
    back = PhotoRunSummary.read(path)
    assert back == summary
    assert json.loads(path.read_text())["schema_version"] == 1
    back.write(tmp_path / "again.json")
    assert (tmp_path / "again.json").read_bytes() == path.read_bytes()


def test_a_photo_summary_names_the_bad_field(tmp_path: Path) -> None:
    path = tmp_path / "summary.json"
    _summary().write(path)
    data = json.loads(path.read_text())
    data["model"]["input_px"] = "big"
    path.write_text(json.dumps(data))
    with pytest.raises(OutputFormatError, match=r"summary.json.*model.input_px must be an integer"):
        PhotoRunSummary.read(path)
    data["schema_version"] = 99
    path.write_text(json.dumps(data))
    with pytest.raises(OutputFormatError, match="upgrade rcm"):
        PhotoRunSummary.read(path)


def test_mosaic_and_photo_summaries_refuse_each_other(tmp_path: Path) -> None:
    path = tmp_path / "summary.json"
    _summary().write(path)
    with pytest.raises(OutputFormatError, match="photo run"):
        MosaicSummary.read(path)
    mosaic = Path(__file__).parents[1] / "fixtures" / "release-0.1.0" / "classifier"
    with pytest.raises(OutputFormatError, match="not the summary of a photo run"):
        PhotoRunSummary.read(mosaic / "summary.json")


def _predictions(calibrated: bool) -> PhotoPredictions:
    rng = np.random.default_rng(0)
    probabilities = rng.random((3, 2))
    return PhotoPredictions(
        images=("a/1.jpg", "a/2.jpg", "b, with comma.jpg"),
        image_ids=np.array([5, 7, 9]),
        sizes=np.array([[640, 480], [480, 640], [10, 12]]),
        categories=("melanoma", "basal cell carcinoma"),
        probabilities=probabilities,
        calibrated=probabilities**2 if calibrated else None,
    )


@pytest.mark.parametrize("calibrated", [False, True])
def test_predictions_round_trip_and_write_the_contract_columns(
    tmp_path: Path, calibrated: bool
) -> None:
    table = _predictions(calibrated)
    path = tmp_path / "predictions.csv"
    table.write(path)
    header = path.read_text().splitlines()[0].split(",")
    raw = ["p_melanoma", "p_basal cell carcinoma"]
    extra = [name + "_calibrated" for name in raw] if calibrated else []
    assert header == ["image", "image_id", "width", "height", *raw, *extra]
    back = PhotoPredictions.read(path)
    assert back.images == table.images and back.categories == table.categories
    np.testing.assert_array_equal(back.image_ids, [5, 7, 9])
    np.testing.assert_array_equal(back.sizes, table.sizes)
    np.testing.assert_allclose(back.probabilities, table.probabilities, rtol=1e-6)
    assert (back.calibrated is None) == (not calibrated)
    back.write(tmp_path / "again.csv")
    assert (tmp_path / "again.csv").read_bytes() == path.read_bytes()


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda lines: [lines[0].replace("image_id", "id"), *lines[1:]], "lacks column image_id"),
        (lambda lines: [lines[0], lines[1].replace("640", "wide", 1), *lines[2:]], "line 2"),
        (lambda lines: [*lines[:2], lines[2].rsplit(",", 1)[0] + ",1.5", *lines[3:]], "a/2.jpg"),
        (lambda lines: [lines[0], lines[1], lines[1]], "unique"),
        (lambda lines: [*lines[:3], lines[3].rsplit(",", 1)[0] + ","], "line 4"),
    ],
)
def test_bad_predictions_are_named(tmp_path: Path, edit, message: str) -> None:
    path = tmp_path / "predictions.csv"
    _predictions(False).write(path)
    path.write_text("\n".join(edit(path.read_text().splitlines())) + "\n")
    with pytest.raises(OutputFormatError, match=message) as caught:
        PhotoPredictions.read(path)
    assert str(path) in str(caught.value)


def test_ambiguous_category_columns_are_refused() -> None:
    with pytest.raises(ValueError, match="clash"):
        PhotoPredictions(
            ("x.jpg",), np.array([1]), np.array([[2, 2]]), ("a", "a_calibrated"), np.zeros((1, 2))
        )


def test_skipped_and_photo_detections_round_trip(tmp_path: Path) -> None:
    skipped = SkippedPhotos((SkippedPhoto("x/bad.jpg", "not a readable image (truncated)"),))
    skipped.write(tmp_path / "skipped.csv")
    assert SkippedPhotos.read(tmp_path / "skipped.csv") == skipped
    items = ({"image_id": 3, "category_id": 1, "bbox": [1.0, 2.0, 3.0, 4.0], "score": 0.5},)
    DetectionResults(items).write(tmp_path / "instances.json")
    back = DetectionResults.read(tmp_path / "instances.json")
    np.testing.assert_array_equal(back.image_ids, [3])
    bad = [{**items[0], "image_id": "3"}]
    (tmp_path / "instances.json").write_text(json.dumps(bad))
    with pytest.raises(OutputFormatError, match="detection 0: image_id"):
        DetectionResults.read(tmp_path / "instances.json")
