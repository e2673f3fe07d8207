"""One synthetic clinical photograph: skin, lesions, hair, lighting, camera blur and noise, JPEG.

Every random choice comes from the photograph's own generator, seeded by
``(seed, index)``, so photographs can be rendered in any order, on any number
of threads, with the same bytes.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw
from scipy.ndimage import gaussian_filter

from rcm.data._noise import value_noise
from rcm.data._synth_photo_lesions import paint_lesion
from rcm.data._synth_photo_shapes import place_lesions

RGB = tuple[float, float, float]
REFERENCE_SIDE = 240  # texture and hair sizes are given for this short side
_ZOOM = (0.75, 1.35)  # per-photograph magnification (log-uniform)
_QUALITY = (82, 96)  # JPEG quality, upper bound exclusive
_EXPOSED_LUMA, _AUTO_EXPOSURE = 160.0, 0.4  # target skin brightness; share corrected (log)


@dataclass(frozen=True)
class PhotoPlan:
    """What one photograph shows, fixed before its pixels are drawn.

    Attributes:
        index: Position in the set (salts the photograph's generator).
        seed: The set's seed.
        width: Pixel columns.
        height: Pixel rows.
        categories: Lesion categories to draw (indices into `PHOTO_CATEGORIES`).
        skin: The patient's skin colour (RGB, 0..255).
        hair: The patient's hairiness (expected strands ~ 12 x hair).
        hair_colour: The patient's hair colour.

    """

    index: int
    seed: int
    width: int
    height: int
    categories: tuple[int, ...]
    skin: RGB
    hair: float
    hair_colour: RGB


@dataclass(frozen=True)
class RenderedPhoto:
    """A photograph's JPEG bytes, its lesions and their instance mask.

    Attributes:
        jpeg: The encoded photograph (baseline JPEG, no EXIF).
        lesions: ``(category, (x_min, y_min, x_max, y_max))`` per drawn lesion, the
            box tight around its pixels (continuous pixels, exclusive maxima).
        labels: ``(H, W)`` uint8: lesion k (1-based, in `lesions` order) or 0.

    """

    jpeg: bytes
    lesions: tuple[tuple[int, tuple[int, int, int, int]], ...]
    labels: np.ndarray


def render_photo(plan: PhotoPlan) -> RenderedPhoto:
    """Draw the photograph `plan` describes."""
    rng = np.random.default_rng([plan.seed, plan.index])
    noise_seed = int(rng.integers(2**32))
    zoom = math.exp(rng.uniform(math.log(_ZOOM[0]), math.log(_ZOOM[1])))
    side = min(plan.width, plan.height) / REFERENCE_SIDE
    image = _skin(plan, side * zoom, noise_seed)
    labels = np.zeros((plan.height, plan.width), np.uint8)
    lesions: list[tuple[int, tuple[int, int, int, int]]] = []
    for shape in place_lesions(plan.categories, plan.width, plan.height, zoom, rng):
        box = paint_lesion(image, labels, shape, len(lesions) + 1, side * zoom, noise_seed)
        if box is not None:
            lesions.append((shape.category, box))
    _hair(image, plan, side * zoom, rng)
    _light(image, plan.skin, rng)
    pixels = _camera(image, side, rng)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=int(rng.integers(*_QUALITY)))
    return RenderedPhoto(buffer.getvalue(), tuple(lesions), labels)


def _skin(plan: PhotoPlan, scale: float, seed: int) -> np.ndarray:
    """The patient's skin with mottling, pores and patchy redness: ``(3, H, W)`` float32."""
    rows, cols = np.arange(plan.height), np.arange(plan.width)
    mottle = value_noise(rows, cols, 40.0 * scale, seed, 1) - 0.5
    pores = value_noise(rows, cols, max(1.5, 2.0 * scale), seed, 2) - 0.5
    redness = value_noise(rows, cols, 70.0 * scale, seed, 3) - 0.5
    shade = 1.0 + 0.16 * mottle + 0.08 * pores
    flush = np.array([0.06, -0.05, -0.05], np.float32)[:, None, None] * redness
    tone = np.asarray(plan.skin, np.float32)[:, None, None]
    return (tone * shade * (1.0 + flush)).astype(np.float32)


def _hair(image: np.ndarray, plan: PhotoPlan, scale: float, rng: np.random.Generator) -> None:
    """Curved hair strands over skin and lesions alike (in place)."""
    strands = int(rng.poisson(12.0 * plan.hair))
    if strands == 0:
        return
    height, width = image.shape[1:]
    mask = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(mask)
    steps = np.linspace(0.0, 1.0, 9)
    for _ in range(strands):
        start = rng.uniform((-0.1 * width, -0.1 * height), (1.1 * width, 1.1 * height))
        heading = rng.uniform(0.0, 2 * math.pi)
        length = rng.uniform(40.0, 160.0) * scale
        bend = rng.uniform(-0.35, 0.35) * length
        ahead = np.array([math.cos(heading), math.sin(heading)])
        across = np.array([-ahead[1], ahead[0]])
        points = (
            start
            + np.outer(steps * length, ahead)
            + np.outer(4 * steps * (1 - steps), across) * bend
        )
        thickness = max(1, round(rng.uniform(0.7, 1.6) * scale))
        opacity = int(rng.uniform(0.55, 0.9) * 255)
        draw.line([tuple(point) for point in points.tolist()], fill=opacity, width=thickness)
    alpha = np.asarray(mask, np.float32) / 255.0
    image += (np.asarray(plan.hair_colour, np.float32)[:, None, None] - image) * alpha


def _light(image: np.ndarray, skin: RGB, rng: np.random.Generator) -> None:
    """Exposure, colour temperature, a light gradient and vignetting (in place).

    Exposure partly follows the skin's brightness, as a camera's automatic
    exposure does, so dark skin is photographed brighter than it is.
    """
    height, width = image.shape[1:]
    ys = ((np.arange(height) + 0.5) / height - 0.5)[:, None]
    xs = ((np.arange(width) + 0.5) / width - 0.5)[None, :]
    direction = rng.uniform(0.0, 2 * math.pi)
    gradient = 1.0 + rng.uniform(0.0, 0.3) * (xs * math.cos(direction) + ys * math.sin(direction))
    cy, cx = rng.uniform(-0.15, 0.15, 2)
    vignette = 1.0 - rng.uniform(0.0, 0.4) * 2.0 * ((xs - cx) ** 2 + (ys - cy) ** 2)
    warmth = rng.uniform(-0.06, 0.06)
    exposure = rng.uniform(0.85, 1.1) * (_EXPOSED_LUMA / _luma(skin)) ** _AUTO_EXPOSURE
    channels = np.array([1.0 + warmth, 1.0, 1.0 - warmth], np.float32) * exposure
    image *= (gradient * vignette).astype(np.float32) * channels[:, None, None]


def _camera(image: np.ndarray, side: float, rng: np.random.Generator) -> np.ndarray:
    """Lens blur and sensor noise, then 8-bit ``(H, W, 3)`` RGB."""
    sigma = rng.uniform(0.3, 1.1) * side
    blurred = gaussian_filter(image, sigma=(0.0, sigma, sigma), mode="nearest")
    blurred += rng.standard_normal(image.shape, dtype=np.float32) * np.float32(
        rng.uniform(1.5, 4.0)
    )
    return np.clip(np.rint(blurred), 0, 255).astype(np.uint8).transpose(1, 2, 0).copy()


def _luma(colour: RGB) -> float:
    """Rec. 601 brightness of an RGB colour."""
    return 0.299 * colour[0] + 0.587 * colour[1] + 0.114 * colour[2]
