"""The one rule for turning stored pixels into model input.

- Integers are scaled by their type's maximum into [0, 1] float32 (8-bit by 255,
  16-bit by 65535), so the same scene at either depth gives the same input.
- Channels are matched to what the model was trained on: grayscale (RCM) is
  replicated into three channels for an RGB model; RGB (clinical photographs)
  is reduced to luminance (ITU-R BT.601) for a grayscale model; an alpha channel
  is dropped. Nothing else changes, so RGB photos stay RGB.
"""

from __future__ import annotations

import numpy as np

LUMA_WEIGHTS = (0.299, 0.587, 0.114)  # ITU-R BT.601
_LUMA = np.array(LUMA_WEIGHTS, dtype=np.float32)


def to_model_input(pixels: np.ndarray, channels: int) -> np.ndarray:
    """Convert channels-last pixels to float32 ``(..., channels, y, x)``.

    Args:
        pixels: A 2-D grayscale tile ``(y, x)``, or any array whose last axis
            is channels (1, 3 or 4): a tile ``(y, x, c)`` or a batch ``(n, y, x, c)``.
        channels: 1 or 3, what the model expects.

    Returns:
        Float32 values in [0, 1] (for integer input), channels first.

    """
    if channels not in (1, 3):
        raise ValueError(f"models take 1 or 3 channels, got {channels}")
    if np.issubdtype(pixels.dtype, np.integer):
        scaled = pixels.astype(np.float32) / np.float32(np.iinfo(pixels.dtype).max)
    else:
        scaled = pixels.astype(np.float32, copy=False)
    if pixels.ndim == 2:
        scaled = scaled[..., None]
    elif scaled.shape[-1] == 4:
        scaled = scaled[..., :3]
    if scaled.shape[-1] == 1 and channels == 3:
        scaled = np.repeat(scaled, 3, axis=-1)
    elif scaled.shape[-1] == 3 and channels == 1:
        scaled = (scaled @ _LUMA)[..., None]
    return np.ascontiguousarray(np.moveaxis(scaled, -1, -3))
