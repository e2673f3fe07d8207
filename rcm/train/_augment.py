"""Augmentation of tile and photo batches on the device, seeded.

RCM mosaics have no preferred orientation, so flips and quarter turns are free
variety; brightness and contrast vary with laser power and depth; a small zoom
covers pixel-size differences between instruments. Clinical photographs are
upright (a face is not turned over), so they get horizontal flips only, plus
the colour changes of lighting and cameras: brightness, contrast, saturation
and hue. Everything works on a whole batch in [0, 1] (before normalisation)
with one generator, so a seed fixes it.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from rcm.train._config import AugmentConfig, PhotoConfig

# RGB -> YIQ (NTSC): luma and two chroma axes; a hue shift is a rotation of the chroma
# plane and a saturation change its scaling, so both are one 3 x 3 matrix per image.
_YIQ = torch.tensor(
    [[0.299, 0.587, 0.114], [0.595716, -0.274453, -0.321263], [0.211456, -0.522591, 0.311135]]
)


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


def augment_photos(
    x: torch.Tensor, options: AugmentConfig, photo: PhotoConfig, generator: torch.Generator
) -> torch.Tensor:
    """Augment ``(n, 3, h, w)`` photos in [0, 1]; draws come from `generator` (on the CPU).

    Horizontal flips (``options.flips``), saturation and hue (``photo.saturation``,
    ``photo.hue``), then brightness and contrast (`photometric`). No quarter
    turns or vertical flips: photographs are upright.
    """
    n = len(x)
    if n == 0:
        return x
    if options.flips:
        flip = _uniform(n, generator) < 0.5
        x = torch.where(flip.to(x.device).view(-1, 1, 1, 1), x.flip(-1), x)
    return _photo_colours(x, options, photo, generator)


def augment_photo_boxes(
    x: torch.Tensor,
    boxes: torch.Tensor,
    options: AugmentConfig,
    photo: PhotoConfig,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Augment one ``(3, h, w)`` photo in [0, 1] and its ``(N, 4)`` xyxy boxes, as `augment_photos`.

    A horizontal flip mirrors the boxes too (``x`` becomes ``w - x``); the colour
    changes leave them as they are.
    """
    if options.flips and bool(_uniform(1, generator)[0] < 0.5):
        width = x.shape[-1]
        x = x.flip(-1)
        boxes = torch.stack(
            [width - boxes[:, 2], boxes[:, 1], width - boxes[:, 0], boxes[:, 3]], dim=1
        )
    return _photo_colours(x[None], options, photo, generator)[0], boxes


def _photo_colours(
    x: torch.Tensor, options: AugmentConfig, photo: PhotoConfig, generator: torch.Generator
) -> torch.Tensor:
    """Saturation and hue, then brightness and contrast, of ``(n, 3, h, w)`` photos."""
    if photo.saturation > 0 or photo.hue > 0:
        x = colour_jitter(x, photo.saturation, photo.hue, generator)
    return photometric(x, options, generator)


def colour_jitter(
    x: torch.Tensor, saturation: float, hue: float, generator: torch.Generator
) -> torch.Tensor:
    """Random saturation and hue changes of ``(n, 3, h, w)`` RGB images in [0, 1].

    Each image's saturation is scaled by up to ``1 +- saturation`` and its hue
    turned by up to ``+- hue`` of the colour wheel (a rotation of the YIQ chroma
    plane); the result is clipped to [0, 1].
    """
    n = len(x)
    scale = 1 + saturation * (2 * _uniform(n, generator) - 1)
    angle = 2 * math.pi * hue * (2 * _uniform(n, generator) - 1)
    cos, sin = scale * torch.cos(angle), scale * torch.sin(angle)
    chroma = torch.zeros(n, 3, 3)
    chroma[:, 0, 0] = 1
    chroma[:, 1, 1], chroma[:, 1, 2] = cos, -sin
    chroma[:, 2, 1], chroma[:, 2, 2] = sin, cos
    matrix = torch.linalg.inv(_YIQ) @ chroma @ _YIQ
    mixed = torch.einsum("nij,njhw->nihw", matrix.to(x.device, x.dtype), x)
    return mixed.clamp(0, 1)
