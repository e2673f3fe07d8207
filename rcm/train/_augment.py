"""Augmentation of tile batches on the device, seeded: orientation, brightness, contrast, zoom.

RCM mosaics have no preferred orientation, so flips and quarter turns are free
variety; brightness and contrast vary with laser power and depth; a small zoom
covers pixel-size differences between instruments. Everything works on a whole
batch in [0, 1] (before normalisation) with one generator, so a seed fixes it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from rcm.train._config import AugmentConfig


def augment_tiles(
    x: torch.Tensor, options: AugmentConfig, generator: torch.Generator
) -> torch.Tensor:
    """Augment ``(n, c, h, w)`` tiles in [0, 1]; draws come from `generator` (on the CPU)."""
    n = len(x)
    if n == 0:
        return x
    if options.scale > 0:
        x = _zoom(x, 1 + options.scale * _uniform(n, generator), generator)
    if options.flips:
        flip = _uniform(n, generator) < 0.5
        x = torch.where(flip.to(x.device).view(-1, 1, 1, 1), x.flip(-1), x)
    if options.rotate90 and x.shape[-1] == x.shape[-2]:
        turns = torch.randint(0, 4, (n,), generator=generator)
        x = torch.stack(
            [torch.rot90(tile, int(k), dims=(-2, -1)) for tile, k in zip(x, turns, strict=True)]
        )
    return photometric(x, options, generator)


def photometric(
    x: torch.Tensor, options: AugmentConfig, generator: torch.Generator
) -> torch.Tensor:
    """Brightness and contrast changes of ``(n, c, h, w)`` images in [0, 1], clipped to [0, 1]."""
    n = len(x)
    shape = (n, 1, 1, 1)
    contrast = 1 + options.contrast * (2 * _uniform(n, generator) - 1)
    brightness = options.brightness * (2 * _uniform(n, generator) - 1)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = (x - mean) * contrast.to(x.device).view(shape) + mean + brightness.to(x.device).view(shape)
    return x.clamp(0, 1)


def _zoom(x: torch.Tensor, factors: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Zoom each tile in by its factor around a random centre that keeps it inside."""
    n = len(x)
    scale = 1 / factors
    room = 1 - scale
    shift_y = room * (2 * _uniform(n, generator) - 1)
    shift_x = room * (2 * _uniform(n, generator) - 1)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0], theta[:, 1, 1] = scale, scale
    theta[:, 0, 2], theta[:, 1, 2] = shift_x, shift_y
    grid = F.affine_grid(theta.to(x.device, x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def _uniform(n: int, generator: torch.Generator) -> torch.Tensor:
    return torch.rand(n, generator=generator)
