"""What a synthetic mosaic contains: size, seed, tissue field and lesions."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from rcm.data._noise import value_noise

LESION_CLASSES = {1: "atypical_honeycomb", 2: "disarranged", 3: "pagetoid_cells"}
# Lesion radius as a fraction of the shorter mosaic edge.
_RADIUS_RANGE = (0.05, 0.11)
_PLACEMENT_TRIES = 400


@dataclass(frozen=True)
class Lesion:
    """A star-shaped lesion region in mosaic pixels; `index` is its instance id (1-based)."""

    index: int
    category: int
    center_y: float
    center_x: float
    radius: float
    harmonics: tuple[tuple[float, float], ...]  # (amplitude, phase) for k = 2, 3, ...

    def outer_radius(self) -> float:
        return self.radius * (1 + sum(amplitude for amplitude, _ in self.harmonics))

    def contains(self, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
        """Boolean mask of the grid ``ys x xs`` (1-D pixel centres) inside the lesion."""
        dy = ys.astype(np.float32)[:, None] - self.center_y
        dx = xs.astype(np.float32)[None, :] - self.center_x
        angle = np.arctan2(dy, dx)
        edge = np.ones_like(angle)
        for order, (amplitude, phase) in enumerate(self.harmonics, start=2):
            edge += amplitude * np.cos(order * angle + phase)
        return np.hypot(dy, dx) < self.radius * edge


@dataclass(frozen=True, eq=False)
class SyntheticSpec:
    """Everything that determines a synthetic mosaic; rendering is a pure function of it.

    Attributes:
        height: Rows in pixels.
        width: Columns in pixels.
        seed: Seed of every random choice.
        um_per_px: Pixel size; texture scales (cell size) follow it.
        camera_block: Edge of the instrument's camera blocks (vignetting seams).
        lesions: Lesion regions with their classes.
        dendrites: Bright dendritic-cell branches, ``(n, 4)`` segments y0, x0, y1, x1.

    """

    height: int
    width: int
    seed: int
    um_per_px: float = 0.5
    camera_block: int = 1000
    lesions: tuple[Lesion, ...] = ()
    dendrites: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))

    @property
    def cell_px(self) -> float:
        """Normal keratinocyte spacing (about 11 um) in pixels."""
        return 11.0 / self.um_per_px

    @property
    def scale(self) -> float:
        return float(min(self.height, self.width))


def tissue_alpha(spec: SyntheticSpec, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """Tissue coverage in [0, 1]: a smooth blob with dark margins and a few holes."""
    seed, size = spec.seed, spec.scale
    yy, xx = ys.astype(np.float32)[:, None], xs.astype(np.float32)[None, :]
    edge = np.minimum(np.minimum(yy, spec.height - 1 - yy), np.minimum(xx, spec.width - 1 - xx))
    margin = np.clip(edge / (0.12 * size), 0, 1)
    shape = 0.55 * value_noise(ys, xs, size / 2.5, seed, 11) + 0.45 * value_noise(
        ys, xs, size / 6, seed, 12
    )
    score = margin * (0.45 + shape) - 0.55
    alpha = np.clip(score / 0.04 + 0.5, 0, 1)
    holes = value_noise(ys, xs, max(120.0, size / 22), seed, 13)
    return (alpha * np.clip((0.89 - holes) / 0.03, 0, 1)).astype(np.float32)


def make_spec(
    height: int,
    width: int,
    *,
    seed: int = 0,
    lesions: int = 3,
    categories: tuple[int, ...] = tuple(LESION_CLASSES),
    um_per_px: float = 0.5,
) -> SyntheticSpec:
    """Place up to `lesions` non-overlapping lesions on tissue, classes drawn from `categories`.

    Fewer are placed when the tissue has no room left; `SyntheticSpec.lesions` says
    how many there are.
    """
    if height < 64 or width < 64:
        raise ValueError(f"synthetic mosaics need at least 64 x 64 pixels, got {width} x {height}")
    unknown = set(categories) - set(LESION_CLASSES)
    if unknown or not categories:
        raise ValueError(f"lesion categories must be among {sorted(LESION_CLASSES)}")
    rng = np.random.default_rng([seed, 1])
    base = SyntheticSpec(height=height, width=width, seed=seed, um_per_px=um_per_px)
    placed: list[Lesion] = []
    for _ in range(_PLACEMENT_TRIES):
        if len(placed) == lesions:
            break
        radius = float(rng.uniform(*_RADIUS_RANGE) * base.scale)
        y, x = (
            float(rng.uniform(radius, height - radius)),
            float(rng.uniform(radius, width - radius)),
        )
        harmonics = tuple(
            (float(rng.uniform(0.0, 0.12)), float(rng.uniform(0, 2 * np.pi))) for _ in range(4)
        )
        if tissue_alpha(base, np.array([y]), np.array([x]))[0, 0] < 0.9:
            continue
        if any(
            np.hypot(y - o.center_y, x - o.center_x) < 1.05 * (radius + o.outer_radius())
            for o in placed
        ):
            continue
        category = int(categories[len(placed) % len(categories)])
        placed.append(Lesion(len(placed) + 1, category, y, x, radius, harmonics))
    dendrites = _dendrites(rng, base, [lesion for lesion in placed if lesion.category == 1])
    return SyntheticSpec(
        height=height,
        width=width,
        seed=seed,
        um_per_px=um_per_px,
        lesions=tuple(placed),
        dendrites=dendrites,
    )


def _dendrites(rng: np.random.Generator, spec: SyntheticSpec, lesions: list[Lesion]) -> np.ndarray:
    """Branching bright dendritic cells scattered inside atypical-honeycomb lesions."""
    segments: list[tuple[float, float, float, float]] = []
    cell = spec.cell_px
    for lesion in lesions:
        count = int(np.pi * lesion.radius**2 / (6 * cell) ** 2)
        for _ in range(count):
            angle, distance = rng.uniform(0, 2 * np.pi), lesion.radius * np.sqrt(rng.uniform())
            y = lesion.center_y + distance * np.sin(angle)
            x = lesion.center_x + distance * np.cos(angle)
            for branch in range(int(rng.integers(3, 6))):
                direction = rng.uniform(0, 2 * np.pi) + branch
                length = rng.uniform(0.8, 2.2) * cell
                segments.append(
                    (y, x, y + length * np.sin(direction), x + length * np.cos(direction))
                )
    return np.asarray(segments, np.float32).reshape(-1, 4)
