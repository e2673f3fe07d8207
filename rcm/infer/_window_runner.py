"""Batches of windows in; per window a dense map (at map scale) and, for detectors, objects.

Everything up to the small per-window results happens on the device: the
model's outputs are resized from the model's window to the mosaic's window when
their pixel sizes differ, detections are painted into a suspicious-probability
map (score times mask probability, or score inside the box), and the dense
output is area-pooled to the stitched map's scale before it is copied back.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from rcm.infer._reader import TileBatch
from rcm.infer._runner import PartRunner, check_finite_outputs, prepare
from rcm.models import LoadedModel, Task, WindowDetections, family_of
from rcm.stitch import Instances


@dataclass(frozen=True)
class WindowOutput:
    """What one window produced.

    Attributes:
        index: The window's index in the grid.
        dense: ``(C, h, w)`` float32 at map scale: class probabilities for
            segmenters, the suspicious probability (C = 1) for detectors.
        instances: Detectors: objects in window pixels (mosaic scale); None for
            segmenters.

    """

    index: int
    dense: np.ndarray
    instances: Instances | None


class WindowPredictor:
    """Runs a detector or segmenter over window batches.

    Args:
        model: A loaded detector or segmenter.
        device: Where to run it.
        source_px: Window edge in mosaic pixels (the model sees ``meta.tile_px``).
        scale: Mosaic pixels per stitched-map pixel; divides `source_px`.
        min_score: Least detection score kept.
        max_detections: Detections kept per window at most.
        mask_threshold: Mask probability at which a pixel belongs to an object.

    """

    def __init__(
        self,
        model: LoadedModel,
        device: torch.device,
        source_px: int,
        scale: int,
        *,
        min_score: float = 0.05,
        max_detections: int = 100,
        mask_threshold: float = 0.5,
    ) -> None:
        if source_px % scale:
            raise ValueError(f"window {source_px} px is not a multiple of the map scale {scale}")
        self.model, self.device, self.source_px, self.scale = model, device, source_px, scale
        self.family = family_of(model.meta)
        self.mask_threshold = mask_threshold
        self.parts = PartRunner(device)
        self.positive = torch.zeros(len(model.meta.classes), dtype=torch.bool, device=device)
        self.positive[list(model.meta.positive_indices)] = True
        model.module.to(device)
        if self.family.configure is not None:
            self.family.configure(model.module, min_score, max_detections)

    @property
    def channels(self) -> int:
        """Channels of the dense output."""
        return len(self.model.meta.classes) if self.family.task == Task.SEGMENTER else 1

    @torch.inference_mode()
    def __call__(self, batches: Iterable[TileBatch]) -> Iterator[WindowOutput]:
        for batch in batches:
            inputs = prepare(batch.pixels, self.model, self.device, self.source_px)
            if self.family.segment is not None:
                dense = np.concatenate(self.parts(inputs, self._segment))
                check_finite_outputs(self.model, batch.indices, dense, "window")
                for index, window in zip(batch.indices, dense, strict=True):
                    yield WindowOutput(int(index), window, None)
            else:
                found = [d for part in self.parts(inputs, self._detect) for d in part]
                check_finite_outputs(self.model, batch.indices, found, "window")
                for index, detections in zip(batch.indices, found, strict=True):
                    yield WindowOutput(int(index), *self._window_results(detections))

    def _segment(self, inputs: torch.Tensor) -> np.ndarray:
        assert self.family.segment is not None
        with self.parts.autocast():
            probabilities = self.family.segment(self.model.module, inputs)
        return self._to_map(probabilities.float()).cpu().numpy()

    def _detect(self, inputs: torch.Tensor) -> list[WindowDetections]:
        assert self.family.detect is not None
        with self.parts.autocast():
            return self.family.detect(self.model.module, inputs)

    def _to_map(self, dense: torch.Tensor) -> torch.Tensor:
        """``(n, C, t, t)`` at model scale to map scale (area pooling when shrinking)."""
        size = self.source_px // self.scale
        if dense.shape[-1] == size:
            return dense
        mode = "area" if dense.shape[-1] > size else "bilinear"
        return F.interpolate(dense, size=(size, size), mode=mode)

    def _window_results(self, found: WindowDetections) -> tuple[np.ndarray, Instances]:
        model_px = self.model.meta.tile_px
        factor = self.source_px / model_px
        scores, labels = found.scores.float(), found.labels
        keep = self.positive[labels]
        canvas = torch.zeros((model_px, model_px), device=scores.device)
        masks = None
        if found.masks is not None:
            masks = found.masks.float()
            if keep.any():
                canvas = (masks[keep] * scores[keep, None, None]).amax(0)
        else:
            for box, score in zip(found.boxes[keep].tolist(), scores[keep].tolist(), strict=True):
                x0, y0, x1, y1 = (round(v) for v in box)
                region = canvas[y0:y1, x0:x1]
                region.clamp_(min=score)
        dense = self._to_map(canvas[None, None])[0].cpu().numpy()
        if masks is not None and factor != 1 and len(masks):
            size = (self.source_px, self.source_px)
            masks = F.interpolate(masks[:, None], size=size, mode="bilinear")[:, 0]
        instances = Instances.from_dense_masks(
            boxes=(found.boxes.float() * factor).cpu().numpy().astype(np.float64),
            scores=scores.cpu().numpy().astype(np.float64),
            labels=labels.cpu().numpy().astype(np.int64),
            masks=None if masks is None else (masks >= self.mask_threshold).cpu().numpy(),
            frame="window",
        )
        return dense, instances
