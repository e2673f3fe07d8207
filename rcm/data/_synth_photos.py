"""Synthetic clinical photographs with lesion boxes, a clinic-style table and clinicians' reads.

`plan_photos` fixes the set from the seed: patients (1-6 photographs each, with
sex, age, skin tone and hairiness), lesion counts per photograph (0-3) and a
long-tailed category mix in which every category appears once there are at
least as many lesions as categories. `write_synthetic_photos` renders the
photographs (`rcm.data._synth_photo_render`, in threads: each depends only on
``(seed, index)``) and writes the folder atomically::

    OUT/images/<patient>/<photo>.jpg
    OUT/masks/<patient>/<photo>.png   lesion k of the photo's rows = k (with masks)
    OUT/lesions.csv                   one row per box, the clinic's own column names
    OUT/columns.yaml                  the columns config `rcm data photos` reads
    OUT/reads.csv                     synthetic clinicians' calls
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from rcm.data._synth_photo_looks import LOOKS, PHOTO_CATEGORIES
from rcm.data._synth_photo_reads import READERS, READS_COLUMNS, synthetic_reads
from rcm.data._synth_photo_render import RGB, PhotoPlan, render_photo
from rcm.errors import InputError
from rcm.io import atomic_output, check_output

LESIONS_NAME, COLUMNS_NAME, READS_NAME = "lesions.csv", "columns.yaml", "reads.csv"
IMAGES_DIR, MASKS_DIR = "images", "masks"
LESION_COLUMNS = ("photo_file", "pid", "gender", "age_years", "diagnosis", "x1", "y1", "x2", "y2")
DEFAULT_PHOTO_SIZE = (320, 240)
MIN_PHOTO_SIDE, MAX_PHOTO_SIDE = 64, 4096
# Fitzpatrick-like skin types I-VI (RGB) and their shares among patients.
SKIN_TONES: tuple[RGB, ...] = (
    (238.0, 208.0, 188.0),
    (224.0, 184.0, 156.0),
    (198.0, 156.0, 120.0),
    (166.0, 118.0, 84.0),
    (118.0, 80.0, 56.0),
    (78.0, 54.0, 40.0),
)
_SKIN_SHARES = (0.15, 0.25, 0.24, 0.16, 0.12, 0.08)
_PHOTOS_PER_PATIENT = (0.25, 0.25, 0.2, 0.15, 0.1, 0.05)  # 1..6
_LESIONS_PER_PHOTO = (0.06, 0.44, 0.32, 0.18)  # 0..3
_PORTRAIT_SHARE = 0.25
_DARK_HAIR, _GREY_HAIR = (34.0, 27.0, 23.0), (150.0, 140.0, 130.0)


@dataclass(frozen=True)
class SyntheticPatient:
    """A synthetic patient: what the table records, and what their photographs share."""

    pid: str
    sex: str
    age: int
    skin: RGB
    hair: float
    hair_colour: RGB


@dataclass(frozen=True)
class PlannedPhoto:
    """One photograph of the set: its path (relative to the images root), patient and plan."""

    image: str
    patient: SyntheticPatient
    plan: PhotoPlan


@dataclass(frozen=True)
class SyntheticPhotos:
    """What `write_synthetic_photos` wrote.

    Attributes:
        folder: The output folder.
        images_root: Folder of the photographs (paths in the tables are relative to it).
        lesions_csv: The table, one row per box.
        columns_yaml: Its columns config (``rcm data photos --columns``).
        reads_csv: The synthetic clinicians' reads.
        masks_root: Folder of the lesion masks, or None when not written.
        images: Photographs written.
        patients: Distinct patients.
        boxes: Lesion boxes over all photographs.
        lesion_free: Photographs without a lesion.
        category_counts: Boxes per category, in `PHOTO_CATEGORIES` order.
        reads: Rows of the reads file.

    """

    folder: Path
    images_root: Path
    lesions_csv: Path
    columns_yaml: Path
    reads_csv: Path
    masks_root: Path | None
    images: int
    patients: int
    boxes: int
    lesion_free: int
    category_counts: tuple[int, ...]
    reads: int


def plan_photos(images: int, seed: int, size: tuple[int, int]) -> tuple[PlannedPhoto, ...]:
    """The set's patients, photographs and lesion categories, fixed by `seed`."""
    rng = np.random.default_rng([seed, 0])
    counts = rng.choice(len(_LESIONS_PER_PHOTO), size=images, p=_LESIONS_PER_PHOTO)
    pool = iter(_category_pool(int(counts.sum()), rng).tolist())
    portrait = rng.random(images) < _PORTRAIT_SHARE
    photos: list[PlannedPhoto] = []
    patients = 0
    while len(photos) < images:
        patients += 1
        patient = _patient(patients, rng)
        taken = int(rng.choice(len(_PHOTOS_PER_PATIENT), p=_PHOTOS_PER_PATIENT)) + 1
        for index in range(len(photos), min(images, len(photos) + taken)):
            width, height = size[::-1] if portrait[index] else size
            plan = PhotoPlan(
                index=index,
                seed=seed,
                width=width,
                height=height,
                categories=tuple(next(pool) for _ in range(counts[index])),
                skin=patient.skin,
                hair=patient.hair,
                hair_colour=patient.hair_colour,
            )
            photos.append(PlannedPhoto(f"{patient.pid}/IMG_{index + 1:06d}.jpg", patient, plan))
    return tuple(photos)


def _category_pool(total: int, rng: np.random.Generator) -> np.ndarray:
    """`total` categories in a random order, in proportion to their frequencies.

    Largest remainders over a floor of one each (when there are enough lesions),
    so the mix is the same for every seed and no category goes missing by chance.
    """
    share = np.array([look.frequency for look in LOOKS])
    share /= share.sum()
    floor = 1 if total >= len(LOOKS) else 0
    exact = floor + share * (total - floor * len(LOOKS))
    counts = np.floor(exact).astype(int)
    remainder = np.argsort(-(exact - counts), kind="stable")[: total - counts.sum()]
    counts[remainder] += 1
    return rng.permutation(np.repeat(np.arange(len(LOOKS)), counts))


def _patient(number: int, rng: np.random.Generator) -> SyntheticPatient:
    """A patient with their sex, age, skin tone and hair."""
    age = int(np.rint(18 + 74 * rng.beta(2.4, 1.6)))
    tone = int(rng.choice(len(SKIN_TONES), p=_SKIN_SHARES))
    toward = SKIN_TONES[min(tone + 1, len(SKIN_TONES) - 1)]
    mix = rng.uniform(0.0, 0.5)
    skin = tuple(float(a + (b - a) * mix) for a, b in zip(SKIN_TONES[tone], toward, strict=True))
    sex = "M" if rng.random() < 0.5 else "F"
    hair = float(rng.beta(1.2, 2.5) * (1.4 if sex == "M" else 0.8))
    grey = age > 55 and rng.random() < 0.5
    return SyntheticPatient(
        pid=f"P{number:05d}",
        sex=sex,
        age=age,
        skin=(skin[0], skin[1], skin[2]),
        hair=hair,
        hair_colour=_GREY_HAIR if grey else _DARK_HAIR,
    )


def write_synthetic_photos(
    out: str | os.PathLike[str],
    *,
    images: int,
    seed: int,
    size: tuple[int, int] = DEFAULT_PHOTO_SIZE,
    masks: bool = False,
    overwrite: bool = False,
    workers: int | None = None,
    progress: bool = False,
) -> SyntheticPhotos:
    """Render a synthetic photo set and write it into the folder `out`, atomically.

    Args:
        out: The folder to create (it appears complete or not at all).
        images: Number of photographs.
        seed: Random seed (>= 0); the same seed gives the same bytes in every file.
        size: ``(width, height)`` of a landscape photograph; a quarter are portrait.
        masks: Also write each photograph's lesion mask (PNG, lesion k = k).
        overwrite: Replace an existing `out`.
        workers: Rendering threads (default: one per core); the output does not depend on it.
        progress: Show a progress bar.

    Raises:
        InputError: For a bad count, seed or size, or an output that cannot be written.

    """
    _check_arguments(images, seed, size)
    target = check_output(out, overwrite=overwrite)
    photos = plan_photos(images, seed, size)
    with atomic_output(target, overwrite=overwrite) as folder:
        folder.mkdir()
        found = _render_all(photos, folder, masks, workers, progress)
        _write_lesions(folder / LESIONS_NAME, photos, found)
        _write_columns(folder / COLUMNS_NAME)
        truth = [
            (photo.image, tuple(c for c, _ in lesions))
            for photo, lesions in zip(photos, found, strict=True)
        ]
        reads = synthetic_reads(truth, seed)
        _write_rows(folder / READS_NAME, READS_COLUMNS, reads)
    counts = np.bincount([c for lesions in found for c, _ in lesions], minlength=len(LOOKS))
    return SyntheticPhotos(
        folder=target,
        images_root=target / IMAGES_DIR,
        lesions_csv=target / LESIONS_NAME,
        columns_yaml=target / COLUMNS_NAME,
        reads_csv=target / READS_NAME,
        masks_root=target / MASKS_DIR if masks else None,
        images=len(photos),
        patients=len({photo.patient.pid for photo in photos}),
        boxes=int(counts.sum()),
        lesion_free=sum(not lesions for lesions in found),
        category_counts=tuple(int(n) for n in counts),
        reads=len(reads),
    )


def _check_arguments(images: int, seed: int, size: tuple[int, int]) -> None:
    if images < 1:
        raise InputError(None, f"--images must be at least 1, got {images}")
    if seed < 0:
        raise InputError(None, f"--seed must be >= 0, got {seed}")
    if len(size) != 2 or not all(MIN_PHOTO_SIDE <= side <= MAX_PHOTO_SIDE for side in size):
        raise InputError(
            None,
            f"--size must be WIDTHxHEIGHT, each {MIN_PHOTO_SIDE}..{MAX_PHOTO_SIDE}, got {size}",
        )


Lesions = tuple[tuple[int, tuple[int, int, int, int]], ...]


def _render_all(
    photos: Sequence[PlannedPhoto], folder: Path, masks: bool, workers: int | None, progress: bool
) -> list[Lesions]:
    """Render and write every photograph (threads: numpy, scipy and Pillow release the GIL)."""

    def one(photo: PlannedPhoto) -> Lesions:
        rendered = render_photo(photo.plan)
        path = folder / IMAGES_DIR / photo.image
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(rendered.jpeg)
        if masks:
            mask = (folder / MASKS_DIR / photo.image).with_suffix(".png")
            mask.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(rendered.labels).save(mask, "PNG")
        return rendered.lesions

    with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
        results = pool.map(one, photos)
        return list(
            tqdm(
                results,
                total=len(photos),
                desc="rendering photos",
                unit="photo",
                disable=not progress,
            )
        )


def _write_lesions(path: Path, photos: Sequence[PlannedPhoto], found: Sequence[Lesions]) -> None:
    """The clinic-style table: one row per box; a lesion-free photo has one row without a box."""
    rows = []
    for photo, lesions in zip(photos, found, strict=True):
        patient = photo.patient
        head = [photo.image, patient.pid, patient.sex, str(patient.age)]
        rows += [[*head, PHOTO_CATEGORIES[c], *map(str, box)] for c, box in lesions]
        if not lesions:
            rows.append([*head, "", "", "", "", ""])
    _write_rows(path, LESION_COLUMNS, rows)


def _write_rows(path: Path, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def _write_columns(path: Path) -> None:
    """The columns config for `lesions.csv`, its images root relative to itself."""
    image, pid, sex, age, category, *box = LESION_COLUMNS
    lines = [
        "# Columns of lesions.csv (synthetic photographs) for `rcm data photos`:",
        "#   rcm data photos lesions.csv --columns columns.yaml --out photos-annotations",
        "columns:",
        f"  image: {image}",
        f"  patient_id: {pid}",
        f"  sex: {sex}",
        f"  age: {age}",
        f"  category: {category}",
        f"  box: [{', '.join(box)}]",
        "box_format: xyxy",
        "categories:",
        *(f"  - {name}" for name in PHOTO_CATEGORIES),
        f"images_root: {IMAGES_DIR}",
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


__all__ = [
    "COLUMNS_NAME",
    "DEFAULT_PHOTO_SIZE",
    "LESIONS_NAME",
    "READERS",
    "READS_NAME",
    "SyntheticPhotos",
    "plan_photos",
    "write_synthetic_photos",
]
