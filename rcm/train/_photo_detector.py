"""Training a photo detector: clinical photographs in, lesion boxes out (torchvision).

Faster R-CNN (``fasterrcnn``), or RetinaNet / FCOS (``retinanet``, ``fcos``) as
one-stage alternatives, built by `rcm.models.build_photo_detector` as
`rcm infer` builds them: the network resizes each whole photograph itself
(shorter side ``photo.min_size``, longer at most ``photo.max_size``) and
normalises it by the model's mean and std. Examples are upright photos with
their boxes (`rcm.train._photo_boxes`); augmentation is a horizontal flip that
mirrors the boxes plus the colour changes of lighting and cameras. The loss is
the sum of torchvision's losses; validation is COCO box mAP over the validation
photos (faster-coco-eval, the pycocotools numbers) with AP50 per category, crowd
boxes scored as regions to ignore. ``optim.balance: sampler`` draws photos by
the mean inverse frequency of their categories (as the photo classifier);
detectors have no loss weights, so ``weights`` draws them uniformly.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.detection.transform import resize_boxes

from rcm.data import PhotoRecord, PhotoSource
from rcm.errors import InputError
from rcm.metrics import coco_box_inputs, coco_map
from rcm.models import (
    DEFAULT_BACKBONE,
    PHOTO_DETECTOR_SETTINGS,
    PHOTO_DETECTORS,
    ModelMeta,
    Task,
    build_photo_detector,
    check_photo_detector,
    detect_photos,
    photo_label_offset,
    resized_size,
    to_unit,
)
from rcm.train._augment import augment_photo_boxes
from rcm.train._config import TrainConfig
from rcm.train._detector import defined_ap, validation_map
from rcm.train._init_weights import load_init
from rcm.train._photo_boxes import BoxBatch, PhotoBoxes, PhotoBoxInputs, collate_boxes
from rcm.train._photo_data import (
    category_matrix,
    check_category_names,
    check_photo_files,
    photo_loader,
    sampler_weights,
)
from rcm.train._sampling import draw_examples
from rcm.train._task import model_meta

log = logging.getLogger(__name__)

# The network's sizes come from photo.min_size / photo.max_size, not model.settings.
MODEL_SETTINGS = tuple(k for k in PHOTO_DETECTOR_SETTINGS if k not in ("min_size", "max_size"))


class PhotoDetectorTask:
    """Whole photographs; summed torchvision losses; COCO box mAP with AP50 per category."""

    monitor = "map"

    def __init__(
        self,
        config: TrainConfig,
        source: PhotoSource,
        train: tuple[PhotoRecord, ...],
        validation: tuple[PhotoRecord, ...],
    ) -> None:
        self.config = config
        self.source = source
        self.categories = source.dataset.categories
        _check_config(config, self.categories)
        check_photo_files(source, (*train, *validation))
        self.train, self.validation = train, validation
        self._check_boxes()
        self.train_inputs = self._inputs(train)
        self.validation_inputs = self._inputs(validation)
        self.offset = photo_label_offset(config.model.architecture)
        self._device = torch.device("cpu")
        self._meta = self.meta({})
        try:  # a clear error before reading any photo
            check_photo_detector(self._meta)
        except ValueError as error:
            raise InputError(config.photos, f"model.settings: {error}") from error
        if config.optim.balance == "weights":
            log.info("optim.balance: weights sets no loss weights for detectors; drawn evenly")

    def summary(self) -> dict[str, Any]:
        """Photos and boxes per split part and category, and the resize rule."""
        photo = self.config.photo
        return {
            "box_counts": {
                "train": _box_counts(self.train, self.categories),
                "validation": _box_counts(self.validation, self.categories),
            },
            "resize_rule": {"min_size": photo.min_size, "max_size": photo.max_size},
        }

    def build(self) -> nn.Module:
        network = build_photo_detector(self._meta)
        if self.config.model.init is not None:
            load_init(network, self.config.model.init)
        return network

    def epoch_examples(self, epoch: int, rng: np.random.Generator) -> np.ndarray:
        size = len(self.train)
        balanced = self.config.optim.balance == "sampler"
        multi = category_matrix(self.train, self.categories)
        weights = sampler_weights(multi) if balanced else None
        count = self.config.optim.examples_per_epoch or size
        return draw_examples(count, size, weights, rng)

    def batches(self, indices: np.ndarray, device: torch.device) -> Iterable[Any]:
        self._device = device
        return self._loader(self.train_inputs, indices, device)

    def loss(self, model: nn.Module, batch: BoxBatch, generator: torch.Generator) -> torch.Tensor:
        images, targets = [], []
        for pixels, boxes, labels, crowd in zip(*batch, strict=True):
            keep = ~crowd  # crowd boxes are regions to ignore, not lesions to find
            image, moved = self._resized(pixels, boxes[keep].to(self._device))
            image, moved = augment_photo_boxes(
                image, moved, self.config.augment, self.config.photo, generator
            )
            images.append(image)
            labelled = (labels[keep] + self.offset).to(self._device, non_blocking=True)
            targets.append({"boxes": moved, "labels": labelled})
        losses = model(images, targets)
        return torch.stack([value.float() for value in losses.values()]).sum()

    def _resized(
        self, pixels: torch.Tensor, boxes: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """A photo at the network's size (its own rule, so it resizes no further), and its boxes.

        Shrinking before augmenting keeps a 50-megapixel photo's float copies off the device.
        """
        image = to_unit(pixels.to(self._device, non_blocking=True)[None], 3)
        height, width = image.shape[-2:]
        photo = self.config.photo
        size = resized_size(height, width, photo.min_size, photo.max_size)
        if size == (height, width):
            return image[0], boxes
        image = F.interpolate(image, size=size, mode="bilinear", antialias=True)
        return image[0], resize_boxes(boxes, (height, width), size)

    def validate(self, model: nn.Module, device: torch.device) -> dict[str, float]:
        sizes, truth, found = [], [], []
        order = np.arange(len(self.validation_inputs))
        for batch in self._loader(self.validation_inputs, order, device):
            photos = [to_unit(p.to(device, non_blocking=True)[None], 3)[0] for p in batch.pixels]
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
                detections = detect_photos(model, self._meta, photos)
            for photo, boxes, labels, crowd in zip(photos, *batch[1:], strict=True):
                sizes.append((photo.shape[2], photo.shape[1]))
                truth.append((boxes.numpy(), labels.numpy(), crowd.numpy()))
            for detected in detections:
                found.append(
                    (
                        detected.boxes.float().cpu().numpy(),
                        detected.scores.float().cpu().numpy(),
                        detected.labels.cpu().numpy(),
                    )
                )
        summary = coco_map(*coco_box_inputs(sizes, truth, found, self.categories))
        metrics = validation_map(summary)
        for name, value in summary["per_category_ap50"].items():
            metrics[f"ap50_{name}"] = defined_ap(value)
        return metrics

    def meta(self, provenance: dict[str, Any]) -> ModelMeta:
        photo = self.config.photo
        meta = model_meta(
            self.config,
            task=Task.PHOTO_DETECTOR,
            classes=self.categories,
            positive=photo.positive or self.categories,
            um_per_px=None,
            provenance={**provenance, **self.summary()},
        )
        settings = {
            "backbone": DEFAULT_BACKBONE,
            **self.config.model.settings,
            "min_size": photo.min_size,
            "max_size": photo.max_size,
        }
        # tile_px records the shorter side photos are resized to (the model's input scale).
        return dataclasses.replace(meta, tile_px=photo.min_size, settings=settings)

    def _inputs(self, records: tuple[PhotoRecord, ...]) -> PhotoBoxInputs:
        paths = [self.source.image_path(record) for record in records]
        boxes = [PhotoBoxes.of(record, self.categories) for record in records]
        return PhotoBoxInputs(paths, boxes)

    def _loader(self, inputs: Any, indices: np.ndarray, device: torch.device) -> Iterable[Any]:
        return photo_loader(inputs, indices, self.config, device, collate_boxes)

    def _check_boxes(self) -> None:
        """Training needs boxes to learn from, validation boxes to score."""
        for part, records in (("training", self.train), ("validation", self.validation)):
            if not any(not box.crowd for record in records for box in record.boxes):
                raise InputError(
                    self.config.data.split,
                    f"the {part} photos have no lesion boxes ({len(records)} photos, crowd boxes "
                    "aside); make the split again or check the annotations",
                )


def _check_config(config: TrainConfig, categories: tuple[str, ...]) -> None:
    """A torchvision photo detector, its backbone setting, categories the set knows."""
    where = config.photos
    architecture = config.model.architecture
    if architecture not in PHOTO_DETECTORS:
        raise InputError(
            where,
            f"model.architecture: rcm trains the photo detectors {', '.join(PHOTO_DETECTORS)}, "
            f"not {architecture!r}",
        )
    unknown = sorted(set(config.model.settings) - set(MODEL_SETTINGS))
    if unknown:
        raise InputError(
            where,
            f"model.settings: photo detectors take {' and '.join(MODEL_SETTINGS)}, not "
            f"{', '.join(unknown)} "
            "(sizes are photo.min_size and photo.max_size)",
        )
    check_category_names(config, categories)


def _box_counts(records: tuple[PhotoRecord, ...], categories: tuple[str, ...]) -> dict[str, Any]:
    per_category = dict.fromkeys(categories, 0)
    crowd = 0
    for record in records:
        for box in record.boxes:
            if box.crowd:
                crowd += 1
            else:
                per_category[box.category] += 1
    return {
        "photos": len(records),
        "without_boxes": sum(not record.boxes for record in records),
        "boxes_per_category": per_category,
        "crowd_boxes": crowd,
    }
