"""Photo models over a photo, a folder or a COCO file: values, files, resuming, bad photos."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from rcm.data import fit_photo, read_photo
from rcm.errors import InputError
from rcm.infer import PhotoDetectorOptions, PhotoOptions, infer_photos
from rcm.models import LoadedModel, load_model, normalise, to_unit
from rcm.outputs import (
    DetectionResults,
    PhotoPredictions,
    PhotoRunSummary,
    SkippedPhotos,
)
from tests.infer.photo_models import (
    CATEGORIES,
    classifier_meta,
    detector_meta,
    save_tiny,
    write_coco_set,
    write_photos,
)

OPTIONS = PhotoOptions(batch_size=2, device="cpu", gallery=4)


@pytest.fixture(scope="module")
def classifier(tmp_path_factory: pytest.TempPathFactory) -> LoadedModel:
    folder = tmp_path_factory.mktemp("model")
    return load_model(save_tiny(folder / "photo.safetensors", classifier_meta()))


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("photos") / "set"
    write_photos(root, 7)
    return root


def direct_logits(model: LoadedModel, rgb: np.ndarray) -> np.ndarray:
    meta = model.meta
    fitted = fit_photo(rgb, meta.tile_px, meta.settings["fit"]).copy()
    x = normalise(to_unit(torch.from_numpy(fitted)[None], 3), meta)
    with torch.inference_mode():
        return model.module(x).double().numpy()[0]


def test_a_folder_gives_one_row_per_photo_equal_to_a_direct_forward_pass(
    classifier: LoadedModel, folder: Path, tmp_path: Path
) -> None:
    result = infer_photos(folder, classifier, tmp_path / "out", options=OPTIONS)
    table = PhotoPredictions.read(tmp_path / "out" / "predictions.csv")
    expected = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("photo*"))
    assert table.images == tuple(expected) and result.images == 7 and result.batches == 4
    np.testing.assert_array_equal(table.image_ids, np.arange(1, 8))
    assert table.categories == CATEGORIES
    for row, image in enumerate(expected):
        rgb = read_photo(folder / image).rgb
        assert tuple(table.sizes[row]) == (rgb.shape[1], rgb.shape[0])
        logits = direct_logits(classifier, rgb)
        softmax = np.exp(logits) / np.exp(logits).sum()
        np.testing.assert_allclose(table.probabilities[row], softmax, atol=2e-6)
        calibrated = np.exp(logits / 2.0) / np.exp(logits / 2.0).sum()
        assert table.calibrated is not None
        np.testing.assert_allclose(table.calibrated[row], calibrated, atol=2e-6)
    summary = PhotoRunSummary.read(tmp_path / "out" / "summary.json")
    assert (summary.images, summary.source.kind, summary.model.calibration) == (
        7,
        "folder",
        "temperature",
    )
    assert summary.model.categories == CATEGORIES and summary.instances is None
    page = (tmp_path / "out" / "gallery.html").read_text()
    assert page.count('<img src="gallery/') == 4
    assert len(list((tmp_path / "out" / "gallery").glob("*.jpg"))) == 4
    assert not list(tmp_path.glob(".*"))  # no partial left behind


def test_multi_label_models_take_a_sigmoid_and_uncalibrated_ones_have_no_calibrated_columns(
    folder: Path, tmp_path: Path
) -> None:
    meta = classifier_meta(labels="multi", temperature=None)
    model = load_model(save_tiny(tmp_path / "multi.safetensors", meta))
    infer_photos(folder / "b", model, tmp_path / "out", options=OPTIONS)
    table = PhotoPredictions.read(tmp_path / "out" / "predictions.csv")
    assert table.calibrated is None and table.images == ("photo02.jpg", "photo05.png")
    logits = direct_logits(model, read_photo(folder / "b" / "photo05.png").rgb)
    np.testing.assert_allclose(table.probabilities[1], 1 / (1 + np.exp(-logits)), atol=2e-6)


def test_one_photo_is_named_by_its_file_and_an_exif_rotation_is_applied(
    classifier: LoadedModel, tmp_path: Path
) -> None:
    rng = np.random.default_rng(1)
    stored = rng.integers(0, 255, (30, 50, 3), dtype=np.uint8)
    path = tmp_path / "turned.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # stored 90 degrees anticlockwise: shown turned clockwise
    Image.fromarray(stored).save(path, exif=exif, quality=95)
    infer_photos(path, classifier, tmp_path / "out", options=OPTIONS)
    table = PhotoPredictions.read(tmp_path / "out" / "predictions.csv")
    assert table.images == ("turned.jpg",) and tuple(table.sizes[0]) == (30, 50)
    with Image.open(path) as image:
        upright = np.asarray(image.convert("RGB").transpose(Image.Transpose.ROTATE_270))
    logits = direct_logits(classifier, upright)
    np.testing.assert_allclose(
        table.probabilities[0], np.exp(logits) / np.exp(logits).sum(), atol=2e-6
    )


def test_a_coco_file_keeps_its_ids_and_the_gallery_shows_the_expert_boxes(
    classifier: LoadedModel, tmp_path: Path
) -> None:
    coco = write_coco_set(tmp_path / "set", 3, ids=[30, 10, 20])
    infer_photos(coco, classifier, tmp_path / "out", options=OPTIONS)
    table = PhotoPredictions.read(tmp_path / "out" / "predictions.csv")
    assert table.images == ("images/b/photo02.jpg", "images/photo00.jpg", "images/photo01.png")
    np.testing.assert_array_equal(table.image_ids, [30, 10, 20])  # the file's ids
    summary = PhotoRunSummary.read(tmp_path / "out" / "summary.json")
    assert summary.source.kind == "coco" and summary.source.path == str(coco)
    assert "expert: " in (tmp_path / "out" / "gallery.html").read_text()


class Interrupt(Exception):
    """Stands for the run being killed."""


def test_an_interrupted_run_continues_without_running_a_batch_twice_and_ends_identical(
    classifier: LoadedModel, folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rcm.infer._photo_models import PhotoRunner

    original = PhotoRunner.classify
    seen: list[tuple[str, ...]] = []

    def counting(self: PhotoRunner, pixels, names):  # type: ignore[no-untyped-def]
        if limit[0] is not None and len(seen) >= limit[0]:
            raise Interrupt
        seen.append(tuple(names))
        return original(self, pixels, names)

    limit: list[int | None] = [2]
    monkeypatch.setattr(PhotoRunner, "classify", counting)
    with pytest.raises(Interrupt):
        infer_photos(folder, classifier, tmp_path / "out", options=OPTIONS)
    assert not (tmp_path / "out").exists() and (tmp_path / ".out.run").is_dir()
    limit[0] = None
    result = infer_photos(folder, classifier, tmp_path / "out", options=OPTIONS)
    assert result.reused == 2 and len(seen) == 4  # 2 before, 2 after: 7 photos in 4 batches
    names = [name for batch in seen for name in batch]
    assert len(names) == len(set(names)) == 7
    assert not (tmp_path / ".out.run").exists()
    infer_photos(folder, classifier, tmp_path / "whole", options=OPTIONS)
    for name in ("predictions.csv", "gallery.html", *(f"gallery/{n:04d}.jpg" for n in range(1, 5))):
        assert (tmp_path / "out" / name).read_bytes() == (tmp_path / "whole" / name).read_bytes()
    resumed, whole = (
        json.loads((tmp_path / f / "summary.json").read_text()) for f in ("out", "whole")
    )
    assert {**resumed, "timings": None} == {**whole, "timings": None}


def test_a_changed_photo_runs_its_batch_again_and_no_resume_starts_over(
    classifier: LoadedModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rcm.infer._photo_models import PhotoRunner

    photos = write_photos(tmp_path / "set", 5)
    original, calls = PhotoRunner.classify, []

    def failing_last(self: PhotoRunner, pixels, names):  # type: ignore[no-untyped-def]
        calls.append(names)
        if len(calls) == 3:
            raise Interrupt
        return original(self, pixels, names)

    monkeypatch.setattr(PhotoRunner, "classify", failing_last)
    with pytest.raises(Interrupt):
        infer_photos(tmp_path / "set", classifier, tmp_path / "out", options=OPTIONS)
    Image.new("RGB", (20, 20), (200, 10, 10)).save(photos[0])  # batch 0 changes
    calls.clear()
    infer_photos(tmp_path / "set", classifier, tmp_path / "out", options=OPTIONS)
    assert [list(names) for names in calls] == [["b/photo02.jpg", "photo00.jpg"], ["photo04.jpg"]]


def test_a_bad_photo_stops_the_run_naming_it_or_is_skipped_and_listed(
    classifier: LoadedModel, tmp_path: Path
) -> None:
    write_photos(tmp_path / "set", 3)
    (tmp_path / "set" / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    with pytest.raises(InputError, match=r"broken\.jpg") as caught:
        infer_photos(tmp_path / "set", classifier, tmp_path / "out", options=OPTIONS)
    assert "not a readable image" in str(caught.value)
    assert not (tmp_path / "out").exists() and not (tmp_path / ".out.run").exists()
    skipping = PhotoOptions(batch_size=2, device="cpu", gallery=0, skip_unreadable=True)
    result = infer_photos(tmp_path / "set", classifier, tmp_path / "out", options=skipping)
    assert (result.images, result.skipped) == (3, 1)
    skipped = SkippedPhotos.read(tmp_path / "out" / "skipped.csv").items
    assert [item.image for item in skipped] == ["broken.jpg"]
    summary = PhotoRunSummary.read(tmp_path / "out" / "summary.json")
    assert summary.skipped == skipped and summary.images == 3
    assert "broken.jpg" not in PhotoPredictions.read(tmp_path / "out" / "predictions.csv").images
    assert not (tmp_path / "out" / "gallery.html").exists()


def test_non_finite_outputs_fail_naming_the_photos(
    classifier: LoadedModel, folder: Path, tmp_path: Path
) -> None:
    class Broken(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.full((len(x), 3), float("nan"))

    broken = LoadedModel(Broken(), classifier.meta, "sha256:0", classifier.path)
    with pytest.raises(InputError, match=r"non-finite outputs \(NaN\) on photos b/photo02.jpg"):
        infer_photos(folder, broken, tmp_path / "out", options=OPTIONS)
    assert not (tmp_path / "out").exists()


def test_a_photo_detector_writes_coco_results_and_best_scores_per_category(
    tmp_path: Path,
) -> None:
    model = load_model(save_tiny(tmp_path / "det.safetensors", detector_meta()))
    coco = write_coco_set(tmp_path / "set", 2, ids=[7, 8])
    options = PhotoDetectorOptions(batch_size=2, device="cpu", gallery=2, min_score=0.0)
    result = infer_photos(coco, model, tmp_path / "out", options=options)
    table = PhotoPredictions.read(tmp_path / "out" / "predictions.csv")
    found = DetectionResults.read(tmp_path / "out" / "instances.json")
    assert result.instances == len(found.items) > 0
    assert set(found.image_ids.tolist()) <= {7, 8}
    for row, image_id in enumerate(table.image_ids.tolist()):
        for label in range(3):
            scores = [
                item["score"]
                for item in found.items
                if item["image_id"] == image_id and item["category_id"] == label + 1
            ]
            np.testing.assert_allclose(
                table.probabilities[row, label], max(scores, default=0), atol=1e-6
            )
    width, height = table.sizes.max(axis=0)
    assert (found.boxes[:, 2:] <= [width + 0.01, height + 0.01]).all()
    summary = PhotoRunSummary.read(tmp_path / "out" / "summary.json")
    assert summary.instances is not None and summary.instances.count == len(found.items)
    assert (tmp_path / "out" / "gallery.html").read_text().count("<figure>") == 2


def test_a_second_run_of_the_same_output_at_once_is_refused(
    classifier: LoadedModel, folder: Path, tmp_path: Path
) -> None:
    from rcm.errors import OutputError
    from rcm.infer._photo_journal import PhotoJournal

    held = PhotoJournal(tmp_path / "out", {}).opened(resume=True)
    with held, pytest.raises(OutputError, match="being written by another run"):
        infer_photos(folder, classifier, tmp_path / "out", options=OPTIONS)
    assert not (tmp_path / "out").exists()
