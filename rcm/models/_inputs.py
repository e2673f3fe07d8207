"""What a network is fed: stored pixels to normalised float batches, for training and inference.

Both `rcm infer` and `rcm train` go through these two functions, so a model sees
the same values in training as later on a mosaic. They follow the pixel rule of
`rcm.io.to_model_input` (integers scaled by their type's maximum, gray repeated
for RGB models, luminance for gray models) and run on whatever device the
tensor is on.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from rcm.io._pixels import LUMA_WEIGHTS
from rcm.models._modelfile import ModelMeta


def to_unit(batch: torch.Tensor, in_chans: int, size: int | None = None) -> torch.Tensor:
    """Stored tiles ``(n, h, w[, c])`` to float ``(n, in_chans, size, size)`` in [0, 1].

    Args:
        batch: Stored pixels (integers are scaled by their type's maximum).
        in_chans: Channels the model takes (1 or 3).
        size: Edge to resize to (antialiased bilinear, as when a mosaic's pixel size
            differs from training); None keeps the tiles' size.

    """
    if batch.dtype.is_floating_point:
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


def normalise(x: torch.Tensor, meta: ModelMeta) -> torch.Tensor:
    """Subtract the model's mean and divide by its standard deviation, per channel."""
    mean = torch.tensor(meta.mean, device=x.device).view(1, -1, 1, 1)
    std = torch.tensor(meta.std, device=x.device).view(1, -1, 1, 1)
    return (x - mean) / std
