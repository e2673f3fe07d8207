"""What a photo run reads: one photo, a folder of photos, or annotated photos (COCO, VOC).

Every source becomes `PhotoInputs`: the photos in source order, each with the
``image`` path ``predictions.csv`` names it by, its ``image_id``, and its expert
boxes (stored pixels) when the source has them.

- A photo file: one photo, named by its file name, id 1.
- A folder: every photo under it (suffixes `PHOTO_SUFFIXES`, any case; hidden
  files and folders left out), sorted by relative path, ids 1..N.
- A COCO file (``.json``): the photos it lists (sorted by path, as
  `rcm.data.PhotoDataset` keeps them), ids as in the file.
- A Pascal VOC folder (one holding ``Annotations/``): its photos, ids 1..N.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rcm.data import PhotoDataset, read_photo_source
from rcm.errors import InputError
from rcm.io import file_checksum
from rcm.outputs import PhotoSourceKind

PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp")
# Formats and stores that hold mosaics, never clinical photographs.
MOSAIC_SUFFIXES = (".zarr", ".ome.tif", ".ome.tiff", ".svs", ".ndpi", ".mrxs", ".scn", ".vms")
_ZARR_MARKERS = (".zattrs", ".zgroup", "zarr.json")
_VOC_FOLDER = "Annotations"


@dataclass(frozen=True)
class PhotoItem:
    """One photo of the set.

    Attributes:
        image: Its name in ``predictions.csv``: the path relative to the images
            root (``/`` separators), or the file name of a single photo.
        path: The file.
        image_id: COCO id, else its number 1..N in source order.
        truth: ``(N, 4)`` expert boxes ``xyxy`` in stored pixels (none without annotations).
        truth_labels: ``(N,)`` index of each box's category in `PhotoInputs.categories`.

    """

    image: str
    path: Path
    image_id: int
    truth: np.ndarray
    truth_labels: np.ndarray


@dataclass(frozen=True)
class PhotoInputs:
    """The photos of a run, in source order.

    Attributes:
        path: What was given.
        kind: ``photo``, ``folder``, ``coco`` or ``voc``.
        images_root: The folder ``image`` paths are relative to.
        items: The photos.
        categories: The annotations' categories (empty without annotations).
        annotation_checksum: ``sha256:`` of the annotation file, None without one.

    """

    path: Path
    kind: PhotoSourceKind
    images_root: Path
    items: tuple[PhotoItem, ...]
    categories: tuple[str, ...] = ()
    annotation_checksum: str | None = None

    @property
    def has_truth(self) -> bool:
        """Whether the source has expert boxes to show beside the model's."""
        return self.kind in ("coco", "voc")


def photo_set_digest(source: str | os.PathLike[str]) -> str:
    """What a photo set is, cheaply: its annotations and each photo's name, id, size and time.

    No photo is read, so a batch job can tell a set that changed from one that did
    not without hashing thousands of photos.

    Raises:
        InputError: As `photo_inputs`.

    """
    inputs = photo_inputs(source)
    digest = hashlib.sha256(f"{inputs.kind}\0{inputs.annotation_checksum or ''}\n".encode())
    for item in inputs.items:
        try:
            stat = item.path.stat()
            seen = f"{stat.st_size}:{stat.st_mtime_ns}"
        except OSError:
            seen = "missing"
        digest.update(f"{item.image}\0{item.image_id}\0{seen}\n".encode())
    return f"sha256:{digest.hexdigest()}"


def looks_like_mosaic(path: str | os.PathLike[str]) -> bool:
    """Whether `path` is a mosaic store or format (OME-Zarr, OME-TIFF, slide formats)."""
    path = Path(path)
    name = path.name.lower()
    if name.endswith(MOSAIC_SUFFIXES):
        return True
    return path.is_dir() and any((path / marker).exists() for marker in _ZARR_MARKERS)


def looks_like_photos(path: str | os.PathLike[str]) -> bool:
    """Whether `path` is a photo source rather than a mosaic: a folder or a ``.json``."""
    path = Path(path)
    if looks_like_mosaic(path):
        return False
    return path.is_dir() or path.suffix.lower() == ".json"


def photo_inputs(source: str | os.PathLike[str]) -> PhotoInputs:
    """List the photos of `source` (a photo, a folder of photos, a COCO file or VOC folder).

    Raises:
        InputError: If `source` does not exist, holds no photos, or its
            annotations cannot be read.

    """
    path = Path(source)
    if not path.exists():
        raise InputError(path, "not found (a photo, a folder of photos or a COCO .json file)")
    if path.is_dir() and (path / _VOC_FOLDER).is_dir():
        return _annotated(path, "voc")
    if path.is_dir():
        return _folder(path)
    if path.suffix.lower() == ".json":
        return _annotated(path, "coco")
    if path.suffix.lower() not in PHOTO_SUFFIXES:
        raise InputError(
            path, f"not a photo ({', '.join(PHOTO_SUFFIXES)}), a folder or a COCO .json file"
        )
    item = PhotoItem(path.name, path, 1, np.zeros((0, 4)), np.zeros(0, np.int64))
    return PhotoInputs(path, "photo", path.parent, (item,))


def _folder(folder: Path) -> PhotoInputs:
    found: list[str] = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = [name for name in dirs if not name.startswith(".")]
        base = Path(root).relative_to(folder)
        found.extend(
            (base / name).as_posix()
            for name in names
            if not name.startswith(".") and Path(name).suffix.lower() in PHOTO_SUFFIXES
        )
    if not found:
        raise InputError(folder, f"holds no photos ({', '.join(PHOTO_SUFFIXES)})")
    items = tuple(
        PhotoItem(image, folder / image, number, np.zeros((0, 4)), np.zeros(0, np.int64))
        for number, image in enumerate(sorted(found), start=1)
    )
    return PhotoInputs(folder, "folder", folder, items)


def _annotated(path: Path, kind: PhotoSourceKind) -> PhotoInputs:
    source = read_photo_source(path)
    dataset = source.dataset
    if not dataset.images:
        raise InputError(path, "lists no photos")
    items = tuple(
        PhotoItem(
            record.image,
            source.image_path(record),
            source.image_id(record),
            np.array([box.xyxy for box in record.boxes], np.float64).reshape(-1, 4),
            np.array([dataset.categories.index(b.category) for b in record.boxes], np.int64),
        )
        for record in dataset.images
    )
    checksum = file_checksum(path) if kind == "coco" else _voc_checksum(path, dataset)
    return PhotoInputs(path, kind, source.images_root, items, dataset.categories, checksum)


def _voc_checksum(folder: Path, dataset: PhotoDataset) -> str:
    """``sha256:`` of the annotation XML files (the photos are hashed as they are read)."""
    return file_checksum(folder / _VOC_FOLDER) if dataset.images else ""
