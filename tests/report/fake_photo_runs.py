"""Fake photo sets and photo runs: tiny JPEGs, a COCO truth and an rcm infer output folder.

Only the files evaluation reads are written: the photos (for orientation and
examples), ``annotations.coco.json``, and the run's ``summary.json``,
``predictions.csv`` and (detectors) ``instances.json``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from rcm.data import PhotoBox, PhotoDataset, PhotoRecord, to_coco
from rcm.outputs import (
    DetectionResults,
    InstancesBlock,
    PhotoModelRecord,
    PhotoPredictions,
    PhotoRunSummary,
    PhotoSourceRecord,
)

CATEGORIES = ("nevus", "melanoma", "bcc", "scc")
SIZE = (64, 48)  # width, height


@dataclass(frozen=True)
class PhotoSet:
    """What a fake set holds: its files, and the truth and scores behind them."""

    root: Path
    coco: Path
    output: Path
    images: tuple[str, ...]
    patients: tuple[str, ...]
    truth: np.ndarray  # (n, C) bool
    scores: np.ndarray  # (n, C)


def write_photo_set(
    root: Path,
    *,
    photos: int = 40,
    seed: int = 0,
    task: str = "photo-classifier",
    labels: str = "multi",
    calibrated: bool = False,
    crowd: bool = False,
) -> PhotoSet:
    """Photos with one or two lesion boxes (some none), a COCO truth, and a run's outputs."""
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True)
    records, truth = [], np.zeros((photos, len(CATEGORIES)), bool)
    for index in range(photos):
        name = f"images/p{index:03d}.jpg"
        pixels = rng.integers(0, 255, (SIZE[1], SIZE[0], 3), dtype=np.uint8)
        Image.fromarray(pixels).save(root / name, quality=70)
        boxes = []
        for _ in range(int(rng.choice([0, 1, 1, 2]))):
            category = int(rng.integers(0, len(CATEGORIES)))
            x, y = float(rng.integers(0, 30)), float(rng.integers(0, 20))
            boxes.append(PhotoBox(CATEGORIES[category], x, y, 20.0, 16.0))
            truth[index, category] = True
        records.append(PhotoRecord(name, SIZE[0], SIZE[1], 3, f"pt{index // 2}", None, None, boxes))
    dataset = PhotoDataset(CATEGORIES, tuple(records))
    document = to_coco(dataset)
    if crowd:  # the first box becomes a crowd region: not truth for its photo
        first = document["annotations"][0]
        first["iscrowd"] = 1
        image = next(i for i in document["images"] if i["id"] == first["image_id"])
        number = [r.image for r in dataset.images].index(image["file_name"])
        others = [
            a["category_id"]
            for a in document["annotations"]
            if a["image_id"] == first["image_id"] and a is not first
        ]
        truth[number, first["category_id"] - 1] = first["category_id"] in others
    coco = root / "annotations.coco.json"
    coco.write_text(json.dumps(document))
    scores = np.clip(truth * 0.45 + rng.random(truth.shape) * 0.55, 0, 1)
    if labels == "single":
        scores = scores / scores.sum(axis=1, keepdims=True)
    images = tuple(r.image for r in dataset.images)
    output = root / "run"
    output.mkdir()
    write_run(output, images, scores, task=task, labels=labels, calibrated=calibrated)
    if task == "photo-detector":
        write_detections(output, dataset, truth, rng)
    patients = tuple(r.patient_id for r in dataset.images)
    return PhotoSet(root, coco, output, images, patients, truth, scores)


def write_run(
    output: Path,
    images: tuple[str, ...],
    scores: np.ndarray,
    *,
    task: str = "photo-classifier",
    labels: str = "multi",
    calibrated: bool = False,
    categories: tuple[str, ...] = CATEGORIES,
    sizes: np.ndarray | None = None,
) -> None:
    """summary.json and predictions.csv of a run with these scores (upright `sizes`)."""
    detector = task == "photo-detector"
    PhotoRunSummary(
        task=task,  # type: ignore[arg-type]
        model=PhotoModelRecord(
            name="derm",
            file="derm.safetensors",
            checksum="sha256:00",
            architecture="fasterrcnn" if detector else "efficientnet_b0",
            categories=categories,
            positive=categories,
            input_px=384,
            calibration="temperature" if calibrated else None,
            settings={"fit": "centre", "labels": labels},
        ),
        source=PhotoSourceRecord("annotations.coco.json", "coco", ".", "sha256:11"),
        images=len(images),
        options={},
        instances=InstancesBlock(0, {}) if detector else None,
    ).write(output / "summary.json")
    PhotoPredictions(
        images=images,
        image_ids=np.arange(1, len(images) + 1),
        sizes=np.tile(SIZE, (len(images), 1)) if sizes is None else sizes,
        categories=categories,
        probabilities=np.round(scores, 6),
        calibrated=np.round(scores**1.5, 6) if calibrated else None,
    ).write(output / "predictions.csv")


def write_detections(
    output: Path, dataset: PhotoDataset, truth: np.ndarray, rng: np.random.Generator
) -> None:
    """instances.json: most expert boxes found (jittered), plus a false positive per photo."""
    items = []
    for image_id, record in enumerate(dataset.images, start=1):
        for box in record.boxes:
            if rng.random() < 0.8:
                jitter = rng.normal(0, 1.0, 2)
                items.append(
                    {
                        "image_id": image_id,
                        "category_id": CATEGORIES.index(box.category) + 1,
                        "bbox": [box.x + jitter[0], box.y + jitter[1], box.width, box.height],
                        "score": float(rng.uniform(0.5, 1.0)),
                    }
                )
        items.append(
            {
                "image_id": image_id,
                "category_id": int(rng.integers(1, len(CATEGORIES) + 1)),
                "bbox": [40.0, 30.0, 10.0, 10.0],
                "score": float(rng.uniform(0.0, 0.6)),
            }
        )
    DetectionResults(tuple(items)).write(output / "instances.json")


def write_custom_set(
    root: Path,
    categories_of: list[tuple[str, ...]],
    scores: np.ndarray,
    *,
    patients: list[str] | None = None,
    categories: tuple[str, ...] = CATEGORIES,
    labels: str = "multi",
) -> PhotoSet:
    """A set whose photo i has one box of each category in `categories_of[i]`, and these scores."""
    (root / "images").mkdir(parents=True)
    records = []
    truth = np.zeros((len(categories_of), len(categories)), bool)
    for index, names in enumerate(categories_of):
        name = f"images/c{index:03d}.jpg"
        Image.new("RGB", SIZE, (90, 60, 50)).save(root / name)
        boxes = [PhotoBox(category, 4.0 + 8 * k, 4.0, 8.0, 8.0) for k, category in enumerate(names)]
        truth[index, [categories.index(category) for category in names]] = True
        patient = patients[index] if patients else f"pt{index}"
        records.append(PhotoRecord(name, SIZE[0], SIZE[1], 3, patient, None, None, boxes))
    dataset = PhotoDataset(categories, tuple(records))
    coco = root / "annotations.coco.json"
    coco.write_text(json.dumps(to_coco(dataset)))
    output = root / "run"
    output.mkdir()
    images = tuple(record.image for record in records)
    write_run(output, images, scores, labels=labels, categories=categories)
    return PhotoSet(root, coco, output, images, tuple(r.patient_id for r in records), truth, scores)
