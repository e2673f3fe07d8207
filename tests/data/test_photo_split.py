"""Splitting a photo set (COCO file or VOC folder) by patient, stratified by box categories."""

from __future__ import annotations

import csv
import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from rcm.cli.main import main
from rcm.data import (
    PhotoBox,
    PhotoDataset,
    PhotoRecord,
    check_split_covers,
    read_photo_source,
    read_split,
    split_by_patient,
    write_coco,
    write_voc,
)
from rcm.pipeline.split import SplitOptions, split_photos

CATEGORIES = ("melanoma", "nevus", "lentigo", "rare")
FRACTIONS = {"train": 0.7, "validation": 0.15, "test": 0.15}


def _cohort(patients: int = 90, seed: int = 0) -> list[tuple[str, str, list[str]]]:
    """(image, patient, categories of its boxes): 1-4 photos a patient, some with several
    categories, some with none, and a rare category."""
    rng = np.random.default_rng(seed)
    photos = []
    for p in range(patients):
        for n in range(int(rng.integers(1, 5))):
            draw = rng.random()
            if draw < 0.15:
                found: list[str] = []
            elif draw < 0.3:
                found = ["melanoma", "nevus"]
            elif draw < 0.38:
                found = ["rare"]
            else:
                found = [str(rng.choice(["melanoma", "nevus", "lentigo"]))]
            photos.append((f"p{p:03d}/img{n}.png", f"P{p:03d}", found))
    return photos


def _dataset(root: Path, photos: list[tuple[str, str, list[str]]]) -> PhotoDataset:
    pixels = np.zeros((8, 8, 3), dtype=np.uint8)
    records = []
    for image, patient, found in photos:
        (root / image).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(root / image)
        boxes = tuple(PhotoBox(c, k, k, 2, 2) for k, c in enumerate(found))
        records.append(PhotoRecord(image, 8, 8, 3, patient, None, None, boxes))
    return PhotoDataset(CATEGORIES, tuple(records))


@pytest.fixture(scope="module")
def photo_set(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, PhotoDataset]:
    root = tmp_path_factory.mktemp("photos")
    dataset = _dataset(root, _cohort())
    write_coco(dataset, root / "annotations.coco.json")
    return root / "annotations.coco.json", dataset


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_cli_splits_a_coco_file_by_patient(
    tmp_path: Path, photo_set: tuple[Path, PhotoDataset], capsys: pytest.CaptureFixture[str]
) -> None:
    path, dataset = photo_set
    out = tmp_path / "split.csv"
    assert main(["data", "split", str(path), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "melanoma" in printed and "none" in printed and "wrote" in printed
    rows = _rows(out)
    assert sorted(r["item_id"] for r in rows) == [r.image for r in dataset.images]
    splits_of: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        splits_of[row["patient_id"]].add(row["split"])
    assert all(len(names) == 1 for names in splits_of.values())  # no patient in two parts
    split = read_split(out)
    check_split_covers(split, [r.image for r in dataset.images], out)
    assert split.category_separator == ";"
    assert {r["category"] for r in rows} >= {"none", "melanoma;nevus", "rare", "lentigo"}
    sidecar = json.loads(out.with_suffix(".json").read_text())
    assert sidecar["options"]["kind"] == "coco"
    assert sidecar["source"]["path"] == str(path)


def test_each_category_is_stratified(tmp_path: Path, photo_set: tuple[Path, PhotoDataset]) -> None:
    path, dataset = photo_set
    outcome = split_photos(path, tmp_path / "split.csv", SplitOptions(seed=3))
    split = outcome.split
    per_category: dict[str, Counter[str]] = defaultdict(Counter)
    for record in dataset.images:
        for category in {box.category for box in record.boxes} or {"none"}:
            per_category[category][split.assignment[record.image]] += 1
    for category, counts in per_category.items():
        total = counts.total()
        for name, fraction in FRACTIONS.items():
            # Whole patients move, so the shares are close, not exact.
            assert abs(counts[name] / total - fraction) < 0.1, (category, name, counts)
    summary = split.summary()
    # a photo with melanoma and nevus counts for both
    melanoma = sum("melanoma" in {b.category for b in r.boxes} for r in dataset.images)
    assert summary["categories"]["melanoma"]["items"] == melanoma
    assert summary["items"] == len(dataset.images)


def test_stratifying_by_box_categories_beats_not_stratifying(
    tmp_path: Path, photo_set: tuple[Path, PhotoDataset]
) -> None:
    """The rare category's shares are nearer the fractions than an unstratified split gets."""
    path, dataset = photo_set

    def error(split_of: dict[str, str]) -> float:
        counts = Counter(
            split_of[r.image] for r in dataset.images if any(b.category == "rare" for b in r.boxes)
        )
        return sum(abs(counts[n] / counts.total() - f) for n, f in FRACTIONS.items())

    errors = {True: 0.0, False: 0.0}
    for seed in range(4):
        for stratify in (True, False):
            options = SplitOptions(seed=seed, stratify=stratify)
            out = tmp_path / f"{seed}-{stratify}.csv"
            errors[stratify] += error(dict(split_photos(path, out, options).split.assignment))
    assert errors[True] < errors[False]


def test_split_by_patient_counts_an_item_for_each_of_its_categories() -> None:
    """Only the photos with both categories carry "b": they must spread as "b" does."""
    items = [f"i{n}" for n in range(40)]
    patients = [f"p{n}" for n in range(40)]
    categories = ["a;b" if n % 4 == 0 else "a" for n in range(40)]
    split = split_by_patient(items, patients, categories, seed=1, category_separator=";")
    with_b = Counter(
        split.assignment[i] for i, c in zip(items, categories, strict=True) if "b" in c
    )
    assert with_b == {"train": 7, "validation": 2, "test": 1} or with_b.total() == 10
    assert all(with_b[name] >= 1 for name in FRACTIONS)
    summary = split.summary()
    assert summary["categories"]["a"]["items"] == 40 and summary["categories"]["b"]["items"] == 10
    assert set(summary["categories"]) == {"a", "b"}


def test_a_voc_folder_with_a_patients_table(tmp_path: Path) -> None:
    photos = [(image, "X", found) for image, _, found in _cohort(30, seed=1)]
    root = tmp_path / "voc" / "JPEGImages"
    dataset = _dataset(root, photos)
    write_voc(dataset, tmp_path / "voc")
    # a foreign VOC folder: no patient elements
    for xml in (tmp_path / "voc" / "Annotations").rglob("*.xml"):
        text = xml.read_text()
        xml.write_text(text.replace("<patient_id>X</patient_id>", ""))
    out = tmp_path / "split.csv"
    argv = ["data", "split", str(tmp_path / "voc"), "--out", str(out)]
    assert main(argv) == 2  # no patients: refused, not one patient per photo
    table = tmp_path / "patients.csv"
    table.write_text(
        "image,patient_id\n" + "".join(f"{i},{i.split('/')[0]}\n" for i, _, _ in photos)
    )
    assert main([*argv, "--patients", str(table)]) == 0
    rows = _rows(out)
    assert len(rows) == len(photos)
    splits_of: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        assert row["patient_id"] == row["item_id"].split("/")[0]
        splits_of[row["patient_id"]].add(row["split"])
    assert all(len(names) == 1 for names in splits_of.values())
    assert json.loads(out.with_suffix(".json").read_text())["options"]["kind"] == "voc"


def test_no_patients_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "photos"
    dataset = _dataset(root, _cohort(5))
    document: dict[str, Any] = json.loads(json.dumps(_coco_without_patients(dataset)))
    (root / "instances.json").write_text(json.dumps(document))
    code = main(["data", "split", str(root / "instances.json"), "--out", str(tmp_path / "s.csv")])
    assert code == 2
    error = capsys.readouterr().err
    assert "have no patient id" in error and "--patients" in error
    assert error.count("\n") == 1
    assert not list(tmp_path.glob("s.*"))


def _coco_without_patients(dataset: PhotoDataset) -> dict[str, Any]:
    from rcm.data import to_coco

    document = to_coco(dataset)
    for image in document["images"]:
        del image["patient_id"], image["sex"], image["age"]
    return document


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--id-column", "x"], "--id-column applies to CSV tables only"),
        (["--stratify-column", "x", "--patient-column", "y"], "apply to CSV tables only"),
    ],
)
def test_table_options_are_refused_for_photo_sets(
    tmp_path: Path,
    photo_set: tuple[Path, PhotoDataset],
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    message: str,
) -> None:
    path, _ = photo_set
    assert main(["data", "split", str(path), "--out", str(tmp_path / "s.csv"), *extra]) == 2
    assert message in capsys.readouterr().err


def test_photo_options_are_refused_for_tables(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    table = tmp_path / "t.csv"
    table.write_text("mosaic_id,patient_id,label\nm1,p1,benign\n")
    argv = ["data", "split", str(table), "--out", str(tmp_path / "s.csv"), "--patients", "p.csv"]
    assert main(argv) == 2
    assert "--patients applies to photo sets" in capsys.readouterr().err


def test_an_existing_split_is_refused_before_the_photos_are_read(tmp_path: Path) -> None:
    (tmp_path / "s.json").write_text("{}")
    from rcm.errors import OutputError

    with pytest.raises(OutputError, match="exists"):
        split_photos(tmp_path / "missing.json", tmp_path / "s.csv")


def test_warnings_are_printed(
    tmp_path: Path, photo_set: tuple[Path, PhotoDataset], capsys: pytest.CaptureFixture[str]
) -> None:
    path, _ = photo_set
    document = json.loads(path.read_text())
    document["annotations"][0]["bbox"] = [6, 6, 4, 4]  # past the 8 x 8 image: clipped
    changed = path.parent / "changed.json"
    changed.write_text(json.dumps(document))
    assert main(["data", "split", str(changed), "--out", str(tmp_path / "s.csv")]) == 0
    assert "rcm: warning: " in capsys.readouterr().err
    assert read_photo_source(changed).problems[0].severity == "warning"
