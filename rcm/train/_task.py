"""What a training task provides to the loop, and the model file's metadata it writes."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from rcm.models import ModelMeta, Task
from rcm.train._config import TrainConfig

TRAIN_SPLIT, VALIDATION_SPLIT = "train", "validation"  # the split parts training reads


class TrainTask(Protocol):
    """What differs between classifiers, detectors and segmenters."""

    monitor: str  # the validation metric to maximise (early stopping, best model)

    def build(self) -> nn.Module:
        """The network, initialised (randomly or from local pretrained weights)."""

    def epoch_examples(self, epoch: int, rng: np.random.Generator) -> np.ndarray:
        """Indices of the training examples of one epoch, in order (all processes alike)."""

    def batches(self, indices: np.ndarray, device: torch.device) -> Iterable[Any]:
        """Batches of those examples, as the loss takes them."""

    def loss(self, model: nn.Module, batch: Any, generator: torch.Generator) -> torch.Tensor:
        """Augment the batch (with `generator`) and return the mean loss."""

    def validate(self, model: nn.Module, device: torch.device) -> dict[str, float]:
        """Metrics on the validation split; must contain `monitor`."""

    def meta(self, provenance: dict[str, Any]) -> ModelMeta:
        """The model file's metadata."""


def model_meta(
    config: TrainConfig,
    *,
    task: str,
    classes: tuple[str, ...],
    positive: tuple[str, ...],
    um_per_px: float | None,
    provenance: dict[str, Any],
) -> ModelMeta:
    """The model file's metadata: the config's model section plus what the task decided."""
    model = config.model
    return ModelMeta(
        architecture=model.architecture,
        classes=classes,
        positive=positive,
        in_chans=model.in_chans,
        tile_px=model.tile_px,
        um_per_px=um_per_px,
        mean=model.mean,
        std=model.std,
        task=Task(task),
        settings=dict(model.settings),
        provenance=provenance,
    )
