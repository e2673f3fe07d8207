"""Batches of stored tiles in, class probabilities out, on CPU or GPU.

Preprocessing happens on the device: tiles travel as their stored integers
(4x less to copy than float32) and follow the one pixel rule of
`rcm.models.to_unit`, then are resized to the model's tile size when the
mosaic's pixel size differs from training, and normalised. On a GPU the model
runs in bf16 autocast with channels-last memory; an out-of-memory error halves
the batch and carries on.

Every model output is checked finite (`check_finite_outputs`): a NaN probability would
otherwise read as "not suspicious", a wrong answer given silently.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, TypeVar

import numpy as np
import torch

from rcm.errors import InputError
from rcm.infer._reader import TileBatch
from rcm.models import LoadedModel, WindowDetections, normalise, to_unit

log = logging.getLogger(__name__)
T = TypeVar("T")
# Outputs named in a non-finite output error at most, then "and N more".
_NAMED = 5


def pick_device(requested: str = "auto") -> torch.device:
    """``auto`` is CUDA when available, else CPU; ``cuda`` without a GPU is an error."""
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("--device cuda was asked for but no CUDA GPU is available")
    return torch.device(requested)


def prepare(
    pixels: np.ndarray, model: LoadedModel, device: torch.device, source_tile_px: int
) -> torch.Tensor:
    """Stored tiles ``(n, h, w[, c])`` to a normalised float batch ``(n, c, t, t)``."""
    meta = model.meta
    batch = torch.from_numpy(np.ascontiguousarray(pixels)).to(device, non_blocking=True)
    size = meta.tile_px if source_tile_px != meta.tile_px else None
    x = normalise(to_unit(batch, meta.in_chans, size), meta)
    if device.type == "cuda":
        x = x.contiguous(memory_format=torch.channels_last)
    return x


class PartRunner:
    """Runs a forward function over a batch in parts; a GPU out-of-memory error halves them.

    The part size that fitted is remembered for later batches.
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.max_batch: int | None = None

    def __call__(self, inputs: Any, forward: Callable[[Any], T]) -> list[T]:
        """`forward` over parts of `inputs` (a batch tensor, or a list of photos)."""
        size = min(self.max_batch or len(inputs), len(inputs))
        parts, start = [], 0
        while start < len(inputs):
            try:
                parts.append(forward(inputs[start : start + size]))
                start += size
            except torch.cuda.OutOfMemoryError:
                if size == 1:
                    raise
                size //= 2
                self.max_batch = size
                log.warning("GPU out of memory: batch size lowered to %d", size)
                if self.device.type == "cuda":
                    torch.cuda.empty_cache()
        return parts

    def autocast(self) -> torch.autocast:
        """bf16 autocast on CUDA, a no-op elsewhere."""
        return torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.device.type == "cuda")


class Predictor:
    """Runs a loaded classifier over tile batches; remembers a batch size that fits."""

    def __init__(self, model: LoadedModel, device: torch.device, source_tile_px: int) -> None:
        self.model, self.device, self.source_tile_px = model, device, source_tile_px
        self.parts = PartRunner(device)
        if device.type == "cuda":
            model.module.to(device).to(memory_format=torch.channels_last)

    @property
    def max_batch(self) -> int | None:
        return self.parts.max_batch

    @torch.inference_mode()
    def __call__(self, batches: Iterable[TileBatch]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield ``(indices, probabilities)`` per batch, probabilities float32 ``(n, classes)``.

        Raises:
            InputError: If the model's logits hold NaN or infinity (see `check_finite_outputs`).

        """
        for batch in batches:
            inputs = prepare(batch.pixels, self.model, self.device, self.source_tile_px)
            parts = self.parts(inputs, self._forward)
            # Logits, not probabilities: a -inf logit still gives a finite softmax.
            check_finite_outputs(
                self.model, batch.indices, np.concatenate([p[1] for p in parts]), "tile"
            )
            yield batch.indices, np.concatenate([p[0] for p in parts])

    def _forward(self, inputs: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        with self.parts.autocast():
            logits = self.model.module(inputs).float()
        return torch.softmax(logits, dim=1).cpu().numpy(), logits.cpu().numpy()


def check_finite_outputs(
    model: LoadedModel,
    indices: np.ndarray,
    outputs: np.ndarray | Sequence[WindowDetections],
    noun: str,
    names: Sequence[str] | None = None,
) -> None:
    """Refuse a batch whose outputs hold NaN or infinity, naming the model file.

    Args:
        model: The model that produced them.
        indices: Grid index of each output's tile or window.
        outputs: One output per index: rows of an array (a classifier's logits, a
            segmenter's map-scale probabilities) or a detector's detections (boxes,
            scores, masks).
        noun: ``tile``, ``window`` or ``photo``, for the message (numbered as in its table).
        names: What to call each output instead of its number (a photo's path).

    Raises:
        InputError: Naming the model file, NaN and/or Inf, and the first outputs.

    """
    if isinstance(outputs, np.ndarray) and np.isfinite(outputs).all():
        return
    found = [_non_finite(output) for output in outputs]
    bad = [int(index) for index, kinds in zip(indices, found, strict=True) if kinds]
    if not bad:
        return
    kinds = " and ".join(kind for kind in ("NaN", "Inf") if any(kind in k for k in found))
    more = f" and {len(bad) - _NAMED} more" if len(bad) > _NAMED else ""
    if names is not None:
        position = {int(index): number for number, index in enumerate(indices)}
        listed = ", ".join(names[position[index]] for index in bad[:_NAMED])
        where = ""
    else:
        listed = ", ".join(str(index) for index in bad[:_NAMED])
        where = f" (numbered as in {noun}s.csv)"
    raise InputError(
        model.path, f"model produced non-finite outputs ({kinds}) on {noun}s {listed}{more}{where}"
    )


def _non_finite(output: np.ndarray | WindowDetections) -> set[str]:
    """What is not finite in one output: ``{"NaN"}``, ``{"Inf"}``, both or neither."""
    if isinstance(output, WindowDetections):
        parts = [output.boxes, output.scores, output.masks]
        tensors = [part.float() for part in parts if part is not None]
        return {
            kind
            for kind, test in (("NaN", torch.isnan), ("Inf", torch.isinf))
            if any(bool(test(tensor).any()) for tensor in tensors)
        }
    values = np.asarray(output)
    return {kind for kind, test in (("NaN", np.isnan), ("Inf", np.isinf)) if test(values).any()}
