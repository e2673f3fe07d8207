"""Synthetic clinical photographs: determinism, the table and its columns config, masks, reads."""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy.ndimage import binary_dilation
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import rcm.data._synth_photos as synth_photos
from rcm.cli._targets import default_target
from rcm.cli.main import main
from rcm.data import (
    PHOTO_CATEGORIES,
    load_photo_columns,
    read_photo_csv,
    write_synthetic_photos,
)
from rcm.data._synth_photo_reads import READERS, READS_COLUMNS
from rcm.data._synth_photos import plan_photos
from rcm.errors import InputError

SIZE = (160, 120)


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "photos"
    write_synthetic_photos(out, images=40, seed=5, size=SIZE, masks=True, workers=2)
    return out


def _files(folder: Path) -> dict[str, bytes]:
    return {
        path.relative_to(folder).as_posix(): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_same_seed_gives_the_same_bytes_whatever_the_threads(photos: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    written = write_synthetic_photos(again, images=40, seed=5, size=SIZE, masks=True, workers=1)
    first, second = _files(photos), _files(again)
    assert sorted(first) == sorted(second)
    assert [name for name in first if first[name] != second[name]] == []
    assert written.images == 40 and len([n for n in first if n.endswith(".jpg")]) == 40


def test_different_seeds_differ(photos: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    write_synthetic_photos(other, images=40, seed=6, size=SIZE)
    assert (other / "lesions.csv").read_bytes() != (photos / "lesions.csv").read_bytes()
    first, second = _files(photos / "images"), _files(other / "images")
    assert all(first[name] != second.get(name) for name in first)


def test_the_table_reads_with_its_columns_config_without_errors(photos: Path) -> None:
    columns = load_photo_columns(photos / "columns.yaml")
    assert columns.categories == PHOTO_CATEGORIES and len(PHOTO_CATEGORIES) == 13
    assert columns.images_root == (photos / "images").resolve()
    dataset, problems = read_photo_csv(photos / "lesions.csv", columns)
    assert [p for p in problems if p.severity == "error"] == []
    assert all("no lesion boxes" in p.message for p in problems)
    assert len(dataset.images) == 40
    rows = _rows(photos / "lesions.csv")
    assert dataset.n_boxes == sum(1 for row in rows if row["x1"])
    assert {(r.width, r.height) for r in dataset.images} == {SIZE, SIZE[::-1]}  # some portrait


def test_every_box_is_tight_around_its_lesion_mask(photos: Path) -> None:
    columns = load_photo_columns(photos / "columns.yaml")
    dataset, _ = read_photo_csv(photos / "lesions.csv", columns)
    contrasts = []
    for record in dataset.images:
        mask = np.asarray(Image.open((photos / "masks" / record.image).with_suffix(".png")))
        rgb = np.asarray(Image.open(photos / "images" / record.image), np.float32)
        assert mask.shape == (record.height, record.width)
        assert mask.max() == len(record.boxes)
        for number, box in enumerate(record.boxes, start=1):
            rows, cols = np.nonzero(mask == number)
            assert box.xyxy == (cols.min(), rows.min(), cols.max() + 1, rows.max() + 1)
            lesion = mask == number
            ring = binary_dilation(lesion, iterations=4) & ~binary_dilation(lesion, iterations=2)
            contrasts.append(np.abs(rgb[lesion].mean(0) - rgb[ring].mean(0)).max())
    # The mask is where the lesion was drawn: it differs from the skin just around it.
    assert np.median(contrasts) > 30


def test_a_patients_photos_share_sex_and_age(photos: Path) -> None:
    patients: dict[str, set[tuple[str, str]]] = defaultdict(set)
    photos_of: dict[str, set[str]] = defaultdict(set)
    for row in _rows(photos / "lesions.csv"):
        patients[row["pid"]].add((row["gender"], row["age_years"]))
        photos_of[row["pid"]].add(row["photo_file"])
        assert row["photo_file"].split("/")[0] == row["pid"]
    assert all(len(values) == 1 for values in patients.values())
    assert {sex for values in patients.values() for sex, _ in values} == {"F", "M"}
    assert all(1 <= len(images) <= 6 for images in photos_of.values())
    assert max(len(images) for images in photos_of.values()) > 1


def test_every_category_appears_with_a_long_tail(photos: Path) -> None:
    found = {row["diagnosis"] for row in _rows(photos / "lesions.csv") if row["diagnosis"]}
    assert found == set(PHOTO_CATEGORIES)
    for seed in range(5):
        planned = [c for photo in plan_photos(300, seed, (320, 240)) for c in photo.plan.categories]
        counts = np.bincount(planned, minlength=len(PHOTO_CATEGORIES))
        assert counts.min() >= 5 and counts.max() >= 6 * counts.min()
        no_lesion = sum(not photo.plan.categories for photo in plan_photos(300, seed, (320, 240)))
        assert 3 <= no_lesion <= 40


def test_the_reads_file_is_well_formed(photos: Path) -> None:
    with (photos / "reads.csv").open(newline="", encoding="utf-8") as handle:
        assert tuple(next(csv.reader(handle))) == READS_COLUMNS
    reads = _rows(photos / "reads.csv")
    truth: dict[str, set[str]] = defaultdict(set)
    for row in _rows(photos / "lesions.csv"):
        truth[row["photo_file"]] |= {row["diagnosis"]} - {""}
    calls: dict[tuple[str, str], list[str]] = defaultdict(list)
    for row in reads:
        assert row["category"] in ("", *PHOTO_CATEGORIES)
        assert 0.0 <= float(row["confidence"]) <= 1.0
        calls[row["reader"], row["image"]].append(row["category"])
    readers = {reader for reader, _ in calls}
    assert readers == {reader.name for reader in READERS} and len(readers) >= 3
    assert set(calls) == {(reader, image) for reader in readers for image in truth}
    for called in calls.values():
        assert len(called) == len(set(called)) and ("" not in called or called == [""])
    hits = {
        reader: np.mean([c in calls[reader, image] for image, cs in truth.items() for c in cs])
        for reader in readers
    }
    assert hits["senior_dermatologist_1"] > hits["general_practitioner"] + 0.15
    assert 0.3 < hits["general_practitioner"] < 0.9 and hits["senior_dermatologist_1"] < 1.0


def _crop_features(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """Mean and spread per channel of each box crop, raw and relative to the photo's skin."""
    features, labels = [], []
    for row in _rows(folder / "lesions.csv"):
        if not row["x1"]:
            continue
        rgb = np.asarray(Image.open(folder / "images" / row["photo_file"]), np.float32)
        x1, y1, x2, y2 = (int(row[key]) for key in ("x1", "y1", "x2", "y2"))
        crop = rgb[y1:y2, x1:x2].reshape(-1, 3)
        relative = crop / np.median(rgb.reshape(-1, 3), axis=0)
        features.append([*crop.mean(0), *crop.std(0), *relative.mean(0), *relative.std(0)])
        labels.append(PHOTO_CATEGORIES.index(row["diagnosis"]))
    return np.array(features), np.array(labels)


def test_categories_are_learnable_from_simple_crop_features(tmp_path: Path) -> None:
    small = (128, 96)
    write_synthetic_photos(tmp_path / "train", images=120, seed=11, size=small)
    write_synthetic_photos(tmp_path / "test", images=80, seed=12, size=small)
    train_x, train_y = _crop_features(tmp_path / "train")
    test_x, test_y = _crop_features(tmp_path / "test")
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    model.fit(train_x, train_y)
    scores = model.predict_proba(test_x)
    aurocs = [
        roc_auc_score(test_y == category, scores[:, column])
        for column, category in enumerate(model.classes_)
        if 0 < (test_y == category).sum() < len(test_y)
    ]
    assert len(aurocs) >= 11
    assert np.mean(aurocs) > 0.9


def test_a_failed_run_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    render = synth_photos.render_photo

    def failing(plan: synth_photos.PhotoPlan) -> object:
        calls.append(plan.index)
        if len(calls) > 3:
            raise RuntimeError("disk on fire")
        return render(plan)

    monkeypatch.setattr(synth_photos, "render_photo", failing)
    with pytest.raises(RuntimeError, match="disk on fire"):
        write_synthetic_photos(tmp_path / "out", images=8, seed=1, size=(96, 64), workers=1)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("images", "seed", "size"), [(0, 1, (96, 64)), (3, -1, (96, 64)), (3, 1, (32, 64))]
)
def test_bad_arguments_are_input_errors(
    tmp_path: Path, images: int, seed: int, size: tuple[int, int]
) -> None:
    with pytest.raises(InputError):
        write_synthetic_photos(tmp_path / "out", images=images, seed=seed, size=size)
    assert not (tmp_path / "out").exists()


def test_the_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "photos"
    args = ["synth", "photos", str(out), "--images", "5", "--size", "96x64", "--no-progress"]
    assert main(args) == 0
    assert "5 photos" in capsys.readouterr().out
    assert {p.name for p in out.iterdir()} == {"images", "lesions.csv", "columns.yaml", "reads.csv"}
    assert main(args) == 2  # exists
    with pytest.raises(SystemExit) as stop:
        main([*args[:3], "--size", "96"])
    assert stop.value.code == 2


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["synth", "m.tif", "--size", "9"], ["synth", "mosaic", "m.tif", "--size", "9"]),
        (
            ["--debug", "synth", "--size", "9", "m.tif"],
            ["--debug", "synth", "mosaic", "--size", "9", "m.tif"],
        ),
        (["synth", "photos", "out"], ["synth", "photos", "out"]),
        (["synth", "mosaic", "m.tif"], ["synth", "mosaic", "m.tif"]),
        (["synth", "--help"], ["synth", "--help"]),
        (["synth"], ["synth"]),
        (["info", "m.tif"], ["info", "m.tif"]),
    ],
)
def test_synth_without_a_target_means_a_mosaic(argv: list[str], expected: list[str]) -> None:
    assert default_target(argv) == expected
