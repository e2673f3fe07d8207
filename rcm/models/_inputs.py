"""The one rule from stored pixels to model input, for training and inference.

- Integers are scaled by their type's maximum into [0, 1] float32 (8-bit by 255,
  16-bit by 65535), so the same scene at either depth gives the same input.
- Channels are matched to what the model was trained on: grayscale (RCM) is
  replicated into three channels for an RGB model; RGB (clinical photographs)
  is reduced to luminance (ITU-R BT.601) for a grayscale model; an alpha channel
  is dropped. Nothing else changes, so RGB photos stay RGB.

`rcm infer`, `rcm train` and the datasets all call `to_unit` (on whatever
device the tensor is on) and then `normalise`; `to_model_input` is the same
rule for one NumPy tile or batch.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from rcm.models._meta import ModelMeta

LUMA_WEIGHTS = (0.299, 0.587, 0.114)  # ITU-R BT.601


def to_unit(batch: torch.Tensor, in_chans: int, size: int | None = None) -> torch.Tensor:
    """Stored tiles ``(n, h, w[, c])`` to float ``(n, in_chans, size, size)`` in [0, 1].

    Args:
        batch: Stored pixels (integers are scaled by their type's maximum, bool is 0
            or 1, floats are kept).
        in_chans: Channels the model takes (1 or 3).
        size: Edge to resize to (antialiased bilinear, as when a mosaic's pixel size
            differs from training); None keeps the tiles' size.

    Raises:
        ValueError: If `in_chans` is neither 1 nor 3.

    """
    if in_chans not in (1, 3):
        raise ValueError(f"models take 1 or 3 channels, got {in_chans}")
    if batch.dtype.is_floating_point or batch.dtype == torch.bool:  # bool: 1-bit images, 0 or 1
        x = batch.float()
    else:
        x = batch.float() / float(torch.iinfo(batch.dtype).max)
    x = x.unsqueeze(1) if x.ndim == 3 else x[..., :3].permute(0, 3, 1, 2)
    if x.shape[1] == 1 and in_chans == 3:
        x = x.expand(-1, 3, -1, -1)
    elif x.shape[1] == 3 and in_chans == 1:
        luma = torch.tensor(LUMA_WEIGHTS, device=x.device).view(1, 3, 1, 1)
        x = (x * luma).sum(1, keepdim=True)
    if size is not None and tuple(x.shape[-2:]) != (size, size):
        x = F.interpolate(
            x, size=(size, size), mode="bilinear", antialias=True, align_corners=False
        )
    return x


def to_model_input(pixels: np.ndarray, channels: int) -> np.ndarray:
    """`to_unit` for NumPy pixels: channels-last in, float32 ``(..., channels, y, x)`` out.

    Args:
        pixels: A 2-D grayscale tile ``(y, x)``, a tile ``(y, x, c)`` or a batch
            ``(n, y, x, c)`` whose last axis is channels (1, 3 or 4).
        channels: 1 or 3, what the model expects.

    Raises:
        ValueError: If `channels` is neither 1 nor 3, or `pixels` has another rank.

    """
    if pixels.ndim not in (2, 3, 4):
        raise ValueError(f"pixels must be (y, x), (y, x, c) or (n, y, x, c), got {pixels.shape}")
    batch = pixels[None] if pixels.ndim < 4 else pixels  # to_unit takes batches
    if pixels.ndim == 2:
        batch = batch[..., None]
    unit = to_unit(torch.from_numpy(np.ascontiguousarray(batch)), channels).contiguous()
    return unit.numpy()[0] if pixels.ndim < 4 else unit.numpy()


def normalise(x: torch.Tensor, meta: ModelMeta) -> torch.Tensor:
    """Subtract the model's mean and divide by its standard deviation, per channel."""
    mean = torch.tensor(meta.mean, device=x.device).view(1, -1, 1, 1)
    std = torch.tensor(meta.std, device=x.device).view(1, -1, 1, 1)
    return (x - mean) / std
