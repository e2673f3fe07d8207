"""Lesion outlines of the synthetic photographs and their placement without overlap.

An outline is an ellipse whose radius is modulated by a few cosine harmonics:
low orders make it asymmetric, high orders notch its border. `LesionShape.field`
gives every pixel its distance from the centre as a share of the border's
distance in that direction, so the lesion is exactly the pixels with a value of
at most 1 and its box is measured from those pixels. Lesions are kept apart by
their reach (the farthest the border can go), so their masks never touch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from rcm.data._synth_photo_looks import LOOKS

# Pixels kept between a lesion's reach and the image edge, and between two lesions.
_EDGE_GAP, _LESION_GAP = 2.0, 4.0
_MIN_RADIUS = (
    3.0  # pixels: smaller lesions are drawn this size; one that must shrink below is not drawn
)
_TRIES, _SHRINK_EVERY, _SHRINK = 48, 8, 0.85


@dataclass(frozen=True)
class LesionShape:
    """One lesion's outline in image pixels (continuous, origin at the top-left corner).

    Attributes:
        category: Index into `LOOKS` (and `PHOTO_CATEGORIES`).
        cx: Centre column.
        cy: Centre row.
        radius: The short semi-axis in pixels.
        aspect: Long semi-axis over short.
        angle: Direction of the long axis in radians.
        harmonics: ``(order, amplitude, phase)`` of each border modulation.

    """

    category: int
    cx: float
    cy: float
    radius: float
    aspect: float
    angle: float
    harmonics: tuple[tuple[int, float, float], ...]

    @property
    def reach(self) -> float:
        """The farthest the border can be from the centre, in pixels."""
        return self.radius * self.aspect * (1.0 + sum(abs(a) for _, a, _ in self.harmonics))

    def window(self, width: int, height: int) -> tuple[int, int, int, int]:
        """``(row0, row1, col0, col1)``: the pixels the lesion can cover, inside the image."""
        reach = self.reach + 1.0
        return (
            max(0, math.floor(self.cy - reach)),
            min(height, math.ceil(self.cy + reach)),
            max(0, math.floor(self.cx - reach)),
            min(width, math.ceil(self.cx + reach)),
        )

    def field(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Normalised distance of each pixel centre from the centre (1 on the border).

        Args:
            rows: Row indices (1-D).
            cols: Column indices (1-D).

        Returns:
            ``(len(rows), len(cols))`` float32.

        """
        dy = (rows.astype(np.float32) + 0.5 - self.cy)[:, None]
        dx = (cols.astype(np.float32) + 0.5 - self.cx)[None, :]
        cos, sin = math.cos(self.angle), math.sin(self.angle)
        u = (dx * cos + dy * sin) / (self.radius * self.aspect)
        v = (dy * cos - dx * sin) / self.radius
        phi = np.arctan2(v, u)
        border = np.ones_like(phi)
        for order, amplitude, phase in self.harmonics:
            border += amplitude * np.cos(order * phi + phase)
        return (np.hypot(u, v) / border).astype(np.float32)


def draw_shape(
    category: int, short_side: float, zoom: float, rng: np.random.Generator
) -> LesionShape:
    """A random outline of `category` centred at the origin, sized for the photograph."""
    look = LOOKS[category]
    low = look.wobble * 0.6 * rng.uniform(0.4, 1.0, 3)
    high = look.fray * 0.6 * rng.uniform(0.4, 1.0, 3)
    orders = [2, 3, 4, *rng.integers(7, 15, 3).tolist()]
    phases = rng.uniform(0.0, 2 * math.pi, 6)
    harmonics = tuple(
        (int(order), float(amplitude), float(phase))
        for order, amplitude, phase in zip(orders, [*low, *high], phases, strict=True)
        if amplitude > 0
    )
    return LesionShape(
        category=category,
        cx=0.0,
        cy=0.0,
        radius=max(_MIN_RADIUS, float(rng.uniform(*look.radius) * short_side * zoom)),
        aspect=float(rng.uniform(*look.aspect)),
        angle=float(rng.uniform(0.0, math.pi)),
        harmonics=harmonics,
    )


def place_lesions(
    categories: tuple[int, ...], width: int, height: int, zoom: float, rng: np.random.Generator
) -> tuple[LesionShape, ...]:
    """Outlines of the given categories placed inside the image, apart from each other.

    A lesion that does not fit after a few tries is shrunk and tried again; one
    that would have to shrink below a few pixels is left out.
    """
    placed: list[LesionShape] = []
    for category in categories:
        shape = draw_shape(category, min(width, height), zoom, rng)
        for attempt in range(_TRIES):
            if attempt and attempt % _SHRINK_EVERY == 0:
                shape = replace(shape, radius=shape.radius * _SHRINK)
            margin = shape.reach + _EDGE_GAP
            if shape.radius < _MIN_RADIUS:
                break
            if 2 * margin >= min(width, height):
                shape = replace(shape, radius=shape.radius * _SHRINK)
                continue
            cx = float(rng.uniform(margin, width - margin))
            cy = float(rng.uniform(margin, height - margin))
            if all(
                math.hypot(cx - other.cx, cy - other.cy) > shape.reach + other.reach + _LESION_GAP
                for other in placed
            ):
                placed.append(replace(shape, cx=cx, cy=cy))
                break
    return tuple(placed)
