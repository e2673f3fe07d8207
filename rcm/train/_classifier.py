"""Training a tile classifier: labelled tissue tiles in, a lesion-vs-benign timm model out."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rcm.data import BENIGN, LESION, LabelledMosaic, TileDataset, TileLabelRule, label_tiles
from rcm.errors import InputError
from rcm.metrics import auroc
from rcm.models import ModelMeta, Task, build_classifier, normalise
from rcm.train._augment import augment_tiles
from rcm.train._config import TrainConfig
from rcm.train._sampling import draw_examples, example_loader
from rcm.train._task import model_meta

CLASSES = ("benign", "lesion")


class ClassifierTask:
    """Tiles from the training and validation mosaics; cross-entropy; tile AUROC."""

    monitor = "auroc"

    def __init__(
        self,
        config: TrainConfig,
        train: list[LabelledMosaic],
        validation: list[LabelledMosaic],
        um_per_px: float | None,
    ) -> None:
        self.config = config
        data, model = config.data, config.model
        self.rule = TileLabelRule(
            tile_px=model.tile_px,
            um_per_px=um_per_px,
            positive_at=data.positive_at,
            negative_below=data.negative_below,
            min_tissue=data.min_tissue,
            overlap=data.overlap,
        )
        self.um_per_px = um_per_px
        self.train = TileDataset(label_tiles(train, self.rule), self.rule, in_chans=model.in_chans)
        self.validation = TileDataset(
            label_tiles(validation, self.rule), self.rule, in_chans=model.in_chans
        )
        for name, dataset in (("training", self.train), ("validation", self.validation)):
            _check_both_classes(name, dataset, config)
        counts = np.bincount(self.train.labels, minlength=2)
        self.class_weights = torch.tensor(counts.sum() / (2 * counts), dtype=torch.float32)
        self._device = torch.device("cpu")
        self._normalising = self.meta({})  # mean and std of the model's inputs

    def summary(self) -> dict[str, Any]:
        """Tile counts per split and mosaics that could not be labelled."""
        return {
            "tiles": {
                "train": self.train.table.counts(),
                "validation": self.validation.table.counts(),
            },
            "skipped_mosaics": [
                {"mosaic_id": mosaic_id, "reason": reason}
                for dataset in (self.train, self.validation)
                for mosaic_id, reason in dataset.table.skipped
            ],
            "tile_rule": {
                "tile_px": self.rule.tile_px,
                "um_per_px": self.rule.um_per_px,
                "positive_at": self.rule.positive_at,
                "negative_below": self.rule.negative_below,
                "min_tissue": self.rule.min_tissue,
            },
        }

    def build(self) -> nn.Module:
        model = self.config.model
        return build_classifier(
            model.architecture,
            num_classes=len(CLASSES),
            in_chans=model.in_chans,
            tile_px=model.tile_px,
            init=model.init,
        )

    def epoch_examples(self, epoch: int, rng: np.random.Generator) -> np.ndarray:
        labels = self.train.labels
        balanced = self.config.optim.balance == "sampler"
        weights = 1.0 / np.bincount(labels, minlength=2)[labels] if balanced else None
        count = self.config.optim.examples_per_epoch or len(labels)
        return draw_examples(count, len(labels), weights, rng)

    def batches(self, indices: np.ndarray, device: torch.device) -> Iterable[Any]:
        self._device = device
        return example_loader(self.train, indices, self.config, device)

    def loss(self, model: nn.Module, batch: Any, generator: torch.Generator) -> torch.Tensor:
        tiles, labels = batch
        tiles = augment_tiles(
            tiles.to(self._device, non_blocking=True), self.config.augment, generator
        )
        logits = model(self._input(tiles))
        weight = (
            self.class_weights.to(self._device) if self.config.optim.balance == "weights" else None
        )
        return F.cross_entropy(logits.float(), labels.to(self._device), weight=weight)

    def validate(self, model: nn.Module, device: torch.device) -> dict[str, float]:
        scores, labels, losses = [], [], []
        order = np.arange(len(self.validation))
        for tiles, batch_labels in example_loader(self.validation, order, self.config, device):
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
                logits = model(self._input(tiles.to(device, non_blocking=True))).float()
            batch_labels = batch_labels.to(device)
            losses.append(F.cross_entropy(logits, batch_labels, reduction="sum").item())
            scores.append(torch.softmax(logits, dim=1)[:, 1].cpu().numpy())
            labels.append(batch_labels.cpu().numpy())
        truth, score = np.concatenate(labels) == LESION, np.concatenate(scores)
        predicted = score >= 0.5
        return {
            "loss": sum(losses) / len(truth),
            "auroc": auroc(truth, score),
            "sensitivity": float(predicted[truth].mean()),
            "specificity": float((~predicted[~truth]).mean()),
        }

    def meta(self, provenance: dict[str, Any]) -> ModelMeta:
        return model_meta(
            self.config,
            task=Task.CLASSIFIER,
            classes=CLASSES,
            positive=("lesion",),
            um_per_px=self.um_per_px,
            provenance={**provenance, **self.summary()},
        )

    def _input(self, tiles: torch.Tensor) -> torch.Tensor:
        x = normalise(tiles, self._normalising)
        return x.contiguous(memory_format=torch.channels_last) if x.is_cuda else x


def _check_both_classes(name: str, dataset: TileDataset, config: TrainConfig) -> None:
    counts = np.bincount(dataset.labels, minlength=2) if len(dataset) else np.zeros(2, int)
    missing = [label for label, count in zip(CLASSES, counts, strict=True) if count == 0]
    if missing:
        raise InputError(
            config.data.manifest,
            f"the {name} mosaics give no {' or '.join(missing)} tiles "
            f"({counts[BENIGN]} benign, {counts[LESION]} lesion): check the masks, the split "
            "and data.positive_at / data.negative_below",
        )
