"""Training a photo classifier: clinical photographs in, category probabilities out (timm).

The whole photograph, fitted to a square (`rcm.data.fit_photo`), goes through
a timm backbone with three input channels. Labels come from the expert boxes
(`rcm.train._photo_data`): ``multi`` trains a sigmoid per category with binary
cross-entropy, ``single`` a softmax with cross-entropy. Validation gives the
loss and the macro AUROC (one category against the rest, averaged over the
categories that have both positive and negative validation photos), the
metric early stopping and the best model follow. Each time the best model is
written, a temperature is fitted on that epoch's validation logits and stored
as the model file's calibration.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rcm.data import PhotoRecord, PhotoSource
from rcm.errors import InputError
from rcm.metrics import auroc, fit_temperature
from rcm.models import ModelMeta, Task, build_classifier, normalise, to_unit
from rcm.train._augment import augment_photos
from rcm.train._config import TrainConfig
from rcm.train._photo_data import (
    PhotoInputs,
    PhotoTargets,
    check_category_names,
    check_photo_files,
    collate_photos,
    loss_weights,
    photo_loader,
    photo_targets,
    sampler_weights,
)
from rcm.train._sampling import draw_examples
from rcm.train._task import model_meta


class PhotoClassifierTask:
    """Whole photographs; BCE (multi) or cross-entropy (single); macro AUROC; temperature."""

    monitor = "macro_auroc"

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
        self.multi_label = config.photo.labels == "multi"
        photo = config.photo
        self.train = photo_targets(train, self.categories, photo)
        self.validation = photo_targets(validation, self.categories, photo)
        self._check_labels()
        check_photo_files(source, (*train, *validation))
        self.train_inputs = self._inputs(self.train)
        self.validation_inputs = self._inputs(self.validation)
        self.weights = loss_weights(self.train)
        self._device = torch.device("cpu")
        self._last_validation: tuple[np.ndarray, np.ndarray] | None = None
        self._normalising = self.meta({})  # mean and std of the model's inputs

    def summary(self) -> dict[str, Any]:
        """Photo counts per split part and category, and the labelling rule."""
        photo = self.config.photo
        return {
            "label_counts": {
                "train": self.train.counts(self.categories),
                "validation": self.validation.counts(self.categories),
            },
            "left_out": {
                "train": list(self.train.left_out),
                "validation": list(self.validation.left_out),
            },
            "label_rule": {
                "labels": photo.labels,
                "single_rule": photo.single_rule if photo.labels == "single" else None,
                "severity": list(photo.severity or self.categories),
                "input_px": photo.input_px,
                "fit": photo.fit,
            },
        }

    def build(self) -> nn.Module:
        model = self.config.model
        return build_classifier(
            model.architecture,
            num_classes=len(self.categories),
            in_chans=3,
            tile_px=self.config.photo.input_px,
            init=model.init,
        )

    def epoch_examples(self, epoch: int, rng: np.random.Generator) -> np.ndarray:
        size = len(self.train.records)
        balanced = self.config.optim.balance == "sampler"
        weights = sampler_weights(self.train.multi) if balanced else None
        count = self.config.optim.examples_per_epoch or size
        return draw_examples(count, size, weights, rng)

    def batches(self, indices: np.ndarray, device: torch.device) -> Iterable[Any]:
        self._device = device
        return self._loader(self.train_inputs, indices, device)

    def loss(self, model: nn.Module, batch: Any, generator: torch.Generator) -> torch.Tensor:
        photos, targets = batch
        x = to_unit(photos.to(self._device, non_blocking=True), 3)
        x = augment_photos(x, self.config.augment, self.config.photo, generator)
        logits = model(self._input(x)).float()
        weighted = self.config.optim.balance == "weights"
        weight = self.weights.to(self._device) if weighted else None
        return self._criterion(logits, targets.to(self._device), weight, "mean")

    def validate(self, model: nn.Module, device: torch.device) -> dict[str, float]:
        outputs, truths = [], []
        order = np.arange(len(self.validation_inputs))
        for photos, targets in self._loader(self.validation_inputs, order, device):
            x = to_unit(photos.to(device, non_blocking=True), 3)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
                outputs.append(model(self._input(x)).float().cpu())
            truths.append(targets)
        logits, truth = torch.cat(outputs), torch.cat(truths)
        loss = self._criterion(logits, truth, None, "sum").item() / len(truth)
        self._last_validation = (logits.numpy(), truth.numpy())
        return {"loss": loss, "macro_auroc": self._macro_auroc(logits, self.validation)}

    def meta(self, provenance: dict[str, Any]) -> ModelMeta:
        photo = self.config.photo
        meta = model_meta(
            self.config,
            task=Task.PHOTO_CLASSIFIER,
            classes=self.categories,
            positive=photo.positive or self.categories,
            um_per_px=None,
            provenance={**provenance, **self.summary()},
        )
        return dataclasses.replace(
            meta,
            tile_px=photo.input_px,
            settings={"fit": photo.fit, "labels": photo.labels},
            calibration=self._calibration(),
        )

    def _calibration(self) -> dict[str, Any] | None:
        """A temperature fitted on the latest validation logits (those of the best epoch)."""
        if self._last_validation is None:
            return None
        logits, truth = self._last_validation
        fitted = fit_temperature(logits, truth, multi_label=self.multi_label)
        return fitted.to_dict()

    def _criterion(
        self, logits: torch.Tensor, targets: torch.Tensor, weight: torch.Tensor | None, how: str
    ) -> torch.Tensor:
        if self.multi_label:
            return F.binary_cross_entropy_with_logits(
                logits, targets.float(), pos_weight=weight, reduction=how
            )
        return F.cross_entropy(logits, targets.long(), weight=weight, reduction=how)

    def _macro_auroc(self, logits: torch.Tensor, part: PhotoTargets) -> float:
        """Mean one-vs-rest AUROC over the categories with validation positives and negatives."""
        scores = torch.sigmoid(logits) if self.multi_label else torch.softmax(logits, dim=1)
        values = [
            auroc(truth.astype(bool), scores[:, column].numpy())
            for column, truth in enumerate(part.multi.T)
            if 0 < truth.sum() < len(truth)
        ]
        return float(np.mean(values))

    def _inputs(self, part: PhotoTargets) -> PhotoInputs:
        paths = [self.source.image_path(record) for record in part.records]
        photo = self.config.photo
        return PhotoInputs(paths, part.targets, photo.input_px, photo.fit)

    def _loader(self, inputs: Any, indices: np.ndarray, device: torch.device) -> Iterable[Any]:
        return photo_loader(inputs, indices, self.config, device, collate_photos)

    def _input(self, x: torch.Tensor) -> torch.Tensor:
        x = normalise(x, self._normalising)
        return x.contiguous(memory_format=torch.channels_last) if x.is_cuda else x

    def _check_labels(self) -> None:
        """Training needs labels to learn from; validation a category it can score."""
        where = self.config.data.split
        if not self.train.records or not self.train.multi.any():
            raise InputError(
                where, f"the training photos have no lesion boxes to learn from ({self._counts()})"
            )
        scoreable = [(0 < column.sum() < len(column)) for column in self.validation.multi.T]
        if not any(scoreable):
            raise InputError(
                where,
                "no category has both positive and negative validation photos, so the "
                f"validation AUROC is undefined ({self._counts()}); make the split again",
            )

    def _counts(self) -> str:
        parts = (("train", self.train), ("validation", self.validation))
        return "; ".join(
            f"{name}: {target.counts(self.categories)['per_category']}" for name, target in parts
        )


def _check_config(config: TrainConfig, categories: tuple[str, ...]) -> None:
    """The photo section's names are categories; the labelling rule fits the set."""
    check_category_names(config, categories)
    where = config.photos
    if config.photo.labels == "single" and len(categories) < 2:
        raise InputError(where, "single-label training needs two or more categories")
    if config.model.settings:
        raise InputError(where, "photo classifiers take no model.settings")
