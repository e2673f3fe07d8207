"""Photo classifiers and photo detectors over a batch of decoded photos, on CPU or GPU.

Photos travel to the device as 8-bit RGB and follow the pixel rule there
(`rcm.models.to_unit`); a classifier's inputs are then normalised by the
model's mean and std (`rcm.models.normalise`), a detector normalises and
resizes inside its own transform. On a GPU the model runs in bf16 autocast
(channels-last for classifiers); out-of-memory halves the batch
(`PartRunner`). Outputs are checked finite (`check_finite_outputs`).

Raw outputs are kept (a classifier's logits, a detector's boxes); probabilities
are derived from them by `classifier_probabilities`, the one rule for
``p_<category>`` and ``p_<category>_calibrated``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from rcm.data import fit_photo
from rcm.infer._runner import PartRunner, check_finite_outputs
from rcm.models import LoadedModel, ModelMeta, Task, WindowDetections, normalise, to_unit


@dataclass(frozen=True)
class PhotoBoxes:
    """A detector's boxes in one photo: ``xyxy`` upright pixels, scores, 0-based labels."""

    boxes: np.ndarray
    scores: np.ndarray
    labels: np.ndarray


class PhotoRunner:
    """Runs a loaded photo model over batches of decoded photos.

    Args:
        model: A photo classifier or photo detector.
        device: Where it runs.
        min_score: A detector's least box score (None: the architecture's default).

    """

    def __init__(
        self, model: LoadedModel, device: torch.device, min_score: float | None = None
    ) -> None:
        self.model, self.device, self.min_score = model, device, min_score
        self.meta: ModelMeta = model.meta
        self.detector = self.meta.task == Task.PHOTO_DETECTOR
        self.parts = PartRunner(device)
        if device.type == "cuda" and not self.detector:
            model.module.to(memory_format=torch.channels_last)

    def prepare(self, rgb: np.ndarray) -> np.ndarray:
        """Upright RGB -> what the model takes: a classifier's square input, a detector's photo."""
        if self.detector:  # copied in the reader thread when read-only: torch wants writable
            return rgb if rgb.flags.writeable else rgb.copy()
        return fit_photo(rgb, self.meta.tile_px, self.meta.settings.get("fit", "centre"))

    @torch.inference_mode()
    def classify(self, pixels: Sequence[np.ndarray], names: Sequence[str]) -> np.ndarray:
        """Logits ``(n, categories)`` float32 of fitted photos.

        Raises:
            InputError: If a logit is NaN or infinite, naming the photos.

        """
        batch = torch.from_numpy(np.stack(pixels)).to(self.device, non_blocking=True)
        inputs = normalise(to_unit(batch, self.meta.in_chans), self.meta)
        if self.device.type == "cuda":
            inputs = inputs.contiguous(memory_format=torch.channels_last)
        logits = np.concatenate(self.parts(inputs, self._classify))
        check_finite_outputs(self.model, np.arange(len(names)), logits, "photo", names)
        return logits

    def _classify(self, inputs: torch.Tensor) -> np.ndarray:
        with self.parts.autocast():
            return self.model.module(inputs).float().cpu().numpy()

    @torch.inference_mode()
    def detect(self, pixels: Sequence[np.ndarray], names: Sequence[str]) -> list[PhotoBoxes]:
        """Each photo's boxes, in its own upright pixels.

        Raises:
            InputError: If a box or score is NaN or infinite, naming the photos.

        """
        images = [
            to_unit(torch.from_numpy(rgb).to(self.device, non_blocking=True)[None], 3)[0]
            for rgb in pixels
        ]
        found: list[WindowDetections] = [
            detection for part in self.parts(images, self._detect) for detection in part
        ]
        check_finite_outputs(self.model, np.arange(len(names)), found, "photo", names)
        return [
            PhotoBoxes(
                d.boxes.float().cpu().numpy().reshape(-1, 4),
                d.scores.float().cpu().numpy(),
                d.labels.cpu().numpy().astype(np.int64),
            )
            for d in found
        ]

    def _detect(self, images: list[torch.Tensor]) -> list[WindowDetections]:
        from rcm.models import PhotoDetectOptions, detect_photos

        limits = PhotoDetectOptions(min_score=self.min_score)
        with self.parts.autocast():
            return detect_photos(self.model.module, self.meta, images, limits)


def _sigmoid(values: np.ndarray) -> np.ndarray:
    return np.exp(-np.logaddexp(0.0, -values))


def _softmax(values: np.ndarray) -> np.ndarray:
    shifted = values - values.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def classifier_probabilities(
    logits: np.ndarray, meta: ModelMeta
) -> tuple[np.ndarray, np.ndarray | None]:
    """Raw and calibrated probabilities of a photo classifier's logits.

    Multi-label models take a sigmoid per category, single-label ones a softmax
    over categories; the calibrated values are the same after the model's
    temperature (`Calibration.scale_logits`), or its score map (Platt,
    isotonic) applied to the raw values. None when the model is not calibrated.
    """
    activation = _softmax if meta.settings.get("labels", "multi") == "single" else _sigmoid
    values = np.asarray(logits, np.float64)
    raw = activation(values)
    calibration = meta.calibrated
    if calibration is None:
        return raw, None
    if calibration.method == "temperature":
        return raw, activation(calibration.scale_logits(values))
    return raw, np.clip(calibration.probability(raw), 0.0, 1.0)


def calibrated_scores(scores: np.ndarray, meta: ModelMeta) -> np.ndarray | None:
    """A detector's calibrated ``p_<category>`` (Platt or isotonic on box scores), or None."""
    calibration = meta.calibrated
    if calibration is None or calibration.method == "temperature":
        return None
    return np.clip(calibration.probability(scores), 0.0, 1.0)
