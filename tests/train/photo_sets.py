"""Tiny drawn photographs for the photo training tests: coloured discs on skin."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from rcm.data import PhotoBox, PhotoDataset, PhotoRecord, Split, write_coco, write_split

CATEGORIES = ("melanoma", "naevus", "angioma")
COLOURS = {"melanoma": (40, 25, 20), "naevus": (150, 95, 60), "angioma": (200, 30, 60)}
SKIN = np.array([224, 172, 140])
SLOTS = ((22, 20), (58, 20), (22, 44), (58, 44))  # disc centres inside the centre square
PARTS = {"train": range(0, 14), "validation": range(14, 18), "test": range(18, 30)}


def draw_photo(rng: np.random.Generator, categories: list[str]) -> tuple[Image.Image, list]:
    """An 80 x 64 photo of skin with one disc per category; its boxes (all inside the centre)."""
    height, width = 64, 80
    pixels = SKIN + rng.normal(0, 8, (height, width, 3))
    yy, xx = np.mgrid[:height, :width]
    boxes = []
    for slot, name in zip(rng.permutation(len(SLOTS)), categories, strict=False):
        cx, cy = SLOTS[slot]
        radius = int(rng.integers(6, 10))
        disc = (xx - cx) ** 2 + (yy - cy) ** 2 <= radius**2
        pixels[disc] = np.array(COLOURS[name]) + rng.normal(0, 6, (int(disc.sum()), 3))
        side = 2 * radius + 1
        boxes.append(
            PhotoBox(name, float(cx - radius), float(cy - radius), float(side), float(side))
        )
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    return image, boxes


def write_photo_set(folder: Path, seed: int = 7) -> Path:
    """30 patients, 3 photos each (each category in 40% of photos), a COCO file, a split."""
    rng = np.random.default_rng(seed)
    records, part_of = [], {}
    for patient in range(30):
        for shot in range(3):
            present = [name for name in CATEGORIES if rng.random() < 0.4]
            image, boxes = draw_photo(rng, present)
            name = f"P{patient:02d}/photo{shot}.jpg"
            (folder / "images" / name).parent.mkdir(parents=True, exist_ok=True)
            image.save(folder / "images" / name, quality=92)
            records.append(PhotoRecord(name, 80, 64, 3, f"P{patient:02d}", None, None, boxes))
            part_of[name] = next(part for part, ids in PARTS.items() if patient in ids)
    dataset = PhotoDataset(CATEGORIES, tuple(records))
    write_coco(dataset, folder / "images" / "annotations.coco.json")
    write_split(split_of(records, part_of), folder / "split.csv")
    return folder


def split_of(records: list[PhotoRecord], part_of: dict[str, str]) -> Split:
    return Split(
        assignment=part_of,
        patient_of={r.image: r.patient_id for r in records},
        category_of={r.image: (r.boxes[0].category if r.boxes else "none") for r in records},
    )
