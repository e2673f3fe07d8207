"""The photo side of `train`: the photo set and its split, the photo task, what the file records."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rcm.data import (
    PhotoRecord,
    PhotoSource,
    Split,
    check_split_covers,
    read_photo_source,
    read_split,
)
from rcm.errors import InputError
from rcm.io import file_checksum
from rcm.models import Task
from rcm.train._config import TrainConfig
from rcm.train._task import TRAIN_SPLIT, VALIDATION_SPLIT, TrainTask

VOC_ANNOTATIONS = "Annotations"


@dataclass(frozen=True)
class TrainingPhotos:
    """The photo set, its split, and the photos of the split's training and validation parts."""

    source: PhotoSource
    split: Split
    train: tuple[PhotoRecord, ...]
    validation: tuple[PhotoRecord, ...]


def training_photos(config: TrainConfig) -> TrainingPhotos:
    """Read the photo set and the split; every photo must be in the split, with its patient.

    Raises:
        InputError: For an unreadable photo set or split, photos missing from the
            split, patients that differ, or an empty training or validation part.

    """
    photos = config.photos
    assert photos is not None  # a photo task's config has a photo set
    source = read_photo_source(photos, config.data.images_root)
    split = read_split(config.data.split)
    records = source.dataset.images
    check_split_covers(split, [record.image for record in records], config.data.split)
    moved = [r for r in records if split.patient_of[r.image] != r.patient_id]
    if moved:
        first = moved[0]
        raise InputError(
            config.data.split,
            f"patients differ from the photo set for {len(moved)} photo(s) (e.g. {first.image}: "
            f"{split.patient_of[first.image]} in the split, {first.patient_id} in {photos.name}); "
            "make the split again from this photo set",
        )
    by_image = {record.image: record for record in records}
    parts = {
        part: tuple(by_image[item] for item in split.items(part) if item in by_image)
        for part in (TRAIN_SPLIT, VALIDATION_SPLIT)
    }
    for part, items in parts.items():
        if not items:
            raise InputError(config.data.split, f"the split has no {part} photos")
    return TrainingPhotos(source, split, parts[TRAIN_SPLIT], parts[VALIDATION_SPLIT])


def photo_task(config: TrainConfig, photos: TrainingPhotos) -> TrainTask:
    """The photo classifier or photo detector task `config` names."""
    if config.task == Task.PHOTO_CLASSIFIER:
        from rcm.train._photo_classifier import PhotoClassifierTask

        return PhotoClassifierTask(config, photos.source, photos.train, photos.validation)
    from rcm.train._photo_detector import PhotoDetectorTask

    return PhotoDetectorTask(config, photos.source, photos.train, photos.validation)


def photo_data_record(source: PhotoSource) -> dict[str, Any]:
    """The model file's record of the photo set: annotations with their checksum, images root.

    A VOC folder's checksum covers its ``Annotations/`` (the labels), not the images.
    """
    voc = source.path.is_dir()
    labels = source.path / VOC_ANNOTATIONS if voc else source.path
    return {
        "path": str(source.path),
        "format": "voc" if voc else "coco",
        "checksum": file_checksum(labels),
        "images_root": str(source.images_root),
        "categories": list(source.dataset.categories),
        "photos": len(source.dataset.images),
        "boxes": source.dataset.n_boxes,
    }
