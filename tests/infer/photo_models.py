"""Tiny photo models and photo sets for the photo inference tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from rcm.data import PhotoBox, PhotoDataset, PhotoRecord, write_coco
from rcm.models import ModelMeta, build_network, save_model

IMAGENET = {"mean": (0.485, 0.456, 0.406), "std": (0.229, 0.224, 0.225)}
CATEGORIES = ("melanoma", "naevus", "bcc")


def classifier_meta(labels: str = "single", temperature: float | None = 2.0) -> ModelMeta:
    calibration = (
        None if temperature is None else {"method": "temperature", "temperature": temperature}
    )
    return ModelMeta(
        architecture="test_efficientnet",
        classes=CATEGORIES,
        positive=CATEGORIES[:1],
        in_chans=3,
        tile_px=32,
        task="photo-classifier",
        settings={"fit": "centre", "labels": labels},
        calibration=calibration,
        **IMAGENET,
    )


def detector_meta() -> ModelMeta:
    return ModelMeta(
        architecture="fasterrcnn",
        classes=CATEGORIES,
        positive=CATEGORIES[:1],
        in_chans=3,
        tile_px=64,
        task="photo-detector",
        settings={"min_size": 64, "max_size": 96, "backbone": "resnet18"},
        **IMAGENET,
    )


def save_tiny(path: Path, meta: ModelMeta, seed: int = 0) -> Path:
    torch.manual_seed(seed)
    return save_model(path, build_network(meta), meta)


def write_photos(folder: Path, count: int, seed: int = 0) -> list[Path]:
    """`count` small photos of different sizes, some in a subfolder, PNG and JPEG."""
    rng = np.random.default_rng(seed)
    paths = []
    for number in range(count):
        height, width = 40 + 3 * number, 56 - 2 * number
        # Smooth colour ramps plus noise, so resizing and cropping change the input.
        ramp = np.linspace(0, 1, width)[None, :, None] * rng.integers(0, 255, 3)
        pixels = np.clip(ramp + rng.normal(0, 30, (height, width, 3)), 0, 255).astype(np.uint8)
        sub = folder / ("b" if number % 3 == 2 else "")
        sub.mkdir(parents=True, exist_ok=True)
        path = sub / f"photo{number:02d}.{'png' if number % 2 else 'jpg'}"
        Image.fromarray(pixels).save(path)
        paths.append(path)
    return paths


def write_coco_set(folder: Path, count: int, ids: list[int] | None = None) -> Path:
    """Photos under `folder`/images and a COCO file beside them, with one box per photo."""
    paths = write_photos(folder / "images", count)
    records = []
    for path in paths:
        with Image.open(path) as image:
            width, height = image.size
        box = PhotoBox(CATEGORIES[len(records) % 3], 2.0, 3.0, width / 2, height / 3)
        image_path = path.relative_to(folder).as_posix()
        records.append(
            PhotoRecord(image_path, width, height, 3, f"p{len(records)}", None, None, (box,))
        )
    coco = folder / "annotations.coco.json"
    write_coco(PhotoDataset(CATEGORIES, tuple(records)), coco)
    if ids is not None:
        import json

        document = json.loads(coco.read_text())
        remap = {image["id"]: new for image, new in zip(document["images"], ids, strict=True)}
        for image in document["images"]:
            image["id"] = remap[image["id"]]
        for annotation in document["annotations"]:
            annotation["image_id"] = remap[annotation["image_id"]]
        coco.write_text(json.dumps(document))
    return coco
