"""Training a window segmenter: an smp FPN or U-Net on the lesion class mask.

Windows come from `WindowDataset`; the target is the window's class mask
(0 = background, then the lesion categories, see `rcm.train._mask_classes`),
the loss pixel-wise cross-entropy, with inverse class-frequency weights when
``optim.balance`` is ``weights``. Validation pools over all validation windows:
Dice of lesion (the summed lesion probability at 0.5, the rule `rcm infer`
maps with) against the mask, AUROC of that probability on a seeded sample of
pixels, and the unweighted loss.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rcm.data import LabelledMosaic
from rcm.errors import InputError
from rcm.metrics import Overlap, auroc, overlap
from rcm.models import WINDOW_MULTIPLE, Task
from rcm.train._config import TrainConfig
from rcm.train._windows import WindowBatch, WindowTrainer

# Pixels per validation window that enter the AUROC: enough for a stable
# estimate, few enough that the scores of thousands of windows stay small.
AUROC_PIXELS = 256
LESION_AT = 0.5  # lesion probability counted as lesion (the default of `rcm infer`)


class SegmenterTask(WindowTrainer):
    """Class masks of mosaic windows; cross-entropy; lesion Dice.

    The model's classes are ``background`` then the lesion categories; every
    lesion category is suspicious.
    """

    task = Task.SEGMENTER
    monitor = "dice"

    def __init__(
        self,
        config: TrainConfig,
        train: list[LabelledMosaic],
        validation: list[LabelledMosaic],
        um_per_px: float | None,
    ) -> None:
        if config.model.tile_px % WINDOW_MULTIPLE:  # before the data is read, not after
            raise InputError(
                None,
                f"model.tile_px must be a multiple of {WINDOW_MULTIPLE} for segmenters, "
                f"got {config.model.tile_px}",
            )
        super().__init__(config, train, validation, um_per_px)
        self.class_weights = torch.tensor(self._class_weights(), dtype=torch.float32)

    @property
    def classes(self) -> tuple[str, ...]:
        return ("background", *self.categories)

    def loss(
        self, model: nn.Module, batch: WindowBatch, generator: torch.Generator
    ) -> torch.Tensor:
        logits = model(self._input(batch.pixels, generator))
        weight = (
            self.class_weights.to(self._device) if self.config.optim.balance == "weights" else None
        )
        return F.cross_entropy(logits.float(), self._target(batch), weight=weight)

    def validate(self, model: nn.Module, device: torch.device) -> dict[str, float]:
        pooled, loss, pixels = Overlap(), 0.0, 0
        scores, truths = [], []
        # The same pixels every epoch, so the AUROC moves only with the model.
        sampler = torch.Generator().manual_seed(self.config.runtime.seed)
        for batch in self._validation_batches(device):
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
                logits = model(self._input(batch.pixels)).float()
            target = self._target(batch)
            loss += F.cross_entropy(logits, target, reduction="sum").item()
            pixels += target.numel()
            lesion = 1 - torch.softmax(logits, dim=1)[:, 0]
            truth = target > 0
            pooled += overlap((lesion >= LESION_AT).cpu().numpy(), truth.cpu().numpy())
            pick = torch.randint(0, truth[0].numel(), (len(truth), AUROC_PIXELS), generator=sampler)
            pick = pick.to(device)
            scores.append(lesion.flatten(1).gather(1, pick).cpu().numpy().ravel())
            truths.append(truth.flatten(1).gather(1, pick).cpu().numpy().ravel())
        truth_sample, score_sample = np.concatenate(truths), np.concatenate(scores)
        both = 0 < truth_sample.sum() < len(truth_sample)
        return {
            "dice": pooled.dice,
            "iou": pooled.iou,
            "auroc": auroc(truth_sample, score_sample) if both else math.nan,
            "loss": loss / max(pixels, 1),
        }

    def _target(self, batch: WindowBatch) -> torch.Tensor:
        classes = np.stack([target.classes for target in batch.targets])
        return torch.from_numpy(classes).to(self._device, non_blocking=True).long()

    def _class_weights(self) -> np.ndarray:
        """Inverse pixel frequency of each class in the training windows (mean weight 1).

        Lesion pixels per window are known; their split into categories comes
        from the whole training masks. Absent categories count as one pixel.
        """
        lesion = float(self.train.windows.lesion_px.sum())
        categories = self.train_pixels[1 : len(self.categories) + 1].astype(np.float64)
        shares = categories / max(categories.sum(), 1.0)
        background = len(self.train) * self.source_px**2 - lesion
        counts = np.maximum(np.concatenate([[background], shares * lesion]), 1.0)
        return counts.sum() / (len(counts) * counts)
