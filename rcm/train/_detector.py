"""Training a window detector: torchvision Mask R-CNN or Faster R-CNN on lesion instances.

Windows and their instances come from `WindowDataset` (one instance per
connected component of each lesion class, see docs/window-targets.md); the
loss is the sum of torchvision's losses (RPN, box and, for Mask R-CNN, mask);
validation is COCO box mAP over the validation windows (faster-coco-eval, the
pycocotools numbers). ``optim.balance: sampler`` draws windows with lesions half
of the time; ``weights`` has no loss weights to set for detectors and draws
windows uniformly, like ``none``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn

from rcm.data import LabelledMosaic
from rcm.errors import InputError
from rcm.metrics import coco_map
from rcm.models import Task
from rcm.train._config import TrainConfig
from rcm.train._windows import WindowBatch, WindowTrainer

# Detectron2 models load for inference but train with Detectron2's own tools.
TRAINABLE = ("maskrcnn", "fasterrcnn")


class DetectorTask(WindowTrainer):
    """Lesion instances in mosaic windows; summed torchvision losses; COCO box mAP.

    The model's classes are the lesion categories (mask values 1..K, see
    `rcm.train._mask_classes`), every one of them suspicious.
    """

    task = Task.DETECTOR
    monitor = "map"

    def __init__(
        self,
        config: TrainConfig,
        train: list[LabelledMosaic],
        validation: list[LabelledMosaic],
        um_per_px: float | None,
    ) -> None:
        if config.model.architecture not in TRAINABLE:
            raise InputError(
                None,
                f"model.architecture: rcm trains the detectors {', '.join(TRAINABLE)}, "
                f"not {config.model.architecture!r}",
            )
        super().__init__(config, train, validation, um_per_px)

    @property
    def classes(self) -> tuple[str, ...]:
        return self.categories

    def loss(
        self, model: nn.Module, batch: WindowBatch, generator: torch.Generator
    ) -> torch.Tensor:
        x = self._input(batch.pixels, generator)
        masks = self.config.model.architecture == "maskrcnn"  # Faster R-CNN takes no masks
        targets = [_on(target.to_torchvision(), self._device, masks) for target in batch.targets]
        losses = model(list(x), targets)
        return torch.stack([value.float() for value in losses.values()]).sum()

    def validate(self, model: nn.Module, device: torch.device) -> dict[str, float]:
        images: list[dict[str, Any]] = []
        truth: list[dict[str, Any]] = []
        found: list[dict[str, Any]] = []
        for batch in self._validation_batches(device):
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
                outputs = model(list(self._input(batch.pixels)))
            for target, output in zip(batch.targets, outputs, strict=True):
                image_id = len(images) + 1
                height, width = target.shape
                images.append({"id": image_id, "height": height, "width": width})
                for box, label, mask in zip(target.boxes, target.labels, target.masks, strict=True):
                    truth.append(
                        {
                            "id": len(truth) + 1,
                            "image_id": image_id,
                            "category_id": int(label),
                            "bbox": _xywh(box),
                            "area": float(mask.sum()),
                            "iscrowd": 0,
                        }
                    )
                boxes = output["boxes"].float().cpu().numpy()
                scores = output["scores"].float().cpu().numpy()
                labels = output["labels"].cpu().numpy()
                for box, score, label in zip(boxes, scores, labels, strict=True):
                    found.append(
                        {
                            "image_id": image_id,
                            "category_id": int(label),  # torchvision labels = mask values
                            "bbox": _xywh(box),
                            "score": float(score),
                        }
                    )
        categories = [{"id": i + 1, "name": name} for i, name in enumerate(self.categories)]
        summary = coco_map(
            {"images": images, "annotations": truth, "categories": categories}, found
        )
        return validation_map(summary)


def _on(target: dict[str, torch.Tensor], device: torch.device, masks: bool) -> dict[str, Any]:
    return {
        key: value.to(device, non_blocking=True)
        for key, value in target.items()
        if masks or key != "masks"
    }


def _xywh(box: np.ndarray) -> list[float]:
    x0, y0, x1, y1 = (float(v) for v in box)
    return [x0, y0, x1 - x0, y1 - y0]


def validation_map(summary: dict[str, Any]) -> dict[str, float]:
    """The training log's box metrics of a `coco_map` summary (NaN where undefined)."""
    return {
        "map": defined_ap(summary["AP"]),
        "map50": defined_ap(summary["AP50"]),
        "map75": defined_ap(summary["AP75"]),
        "recall100": defined_ap(summary["AR100"]),
    }


def defined_ap(value: float) -> float:
    """COCO reports -1 where a number is undefined (no ground truth); NaN says so plainly."""
    return value if value >= 0 else math.nan
