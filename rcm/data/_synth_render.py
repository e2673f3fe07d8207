"""Render one block of a synthetic RCM mosaic: texture, tissue, lesions, seams, noise.

RCM shows tissue bright on a dark background. The normal epidermis is a regular
honeycomb (bright cell borders, dark cytoplasm and nuclei); the lesion classes
change it as readers describe melanocytic lesions: an atypical honeycomb of
larger, irregular cells with thick bright borders and bright dendritic cells, a
disarranged pattern with no cells at all, and large bright round pagetoid cells.
"""

from __future__ import annotations

import numpy as np

from rcm.data._noise import hash_uniform, value_noise, voronoi_cells
from rcm.data._synth_spec import SyntheticSpec, tissue_alpha

BACKGROUND_LEVEL = 10.0


def render_instances(
    spec: SyntheticSpec, ys: np.ndarray, xs: np.ndarray, tissue: np.ndarray | None = None
) -> np.ndarray:
    """Lesion instance ids (0 = none) on tissue, uint16, for the grid ``ys x xs``."""
    if tissue is None:
        tissue = tissue_alpha(spec, ys, xs)
    instances = np.zeros((len(ys), len(xs)), np.uint16)
    for lesion in spec.lesions:
        reach = lesion.outer_radius()
        rows = (ys >= lesion.center_y - reach) & (ys <= lesion.center_y + reach)
        cols = (xs >= lesion.center_x - reach) & (xs <= lesion.center_x + reach)
        if not rows.any() or not cols.any():
            continue
        r_idx, c_idx = np.flatnonzero(rows), np.flatnonzero(cols)
        window = (slice(r_idx[0], r_idx[-1] + 1), slice(c_idx[0], c_idx[-1] + 1))
        inside = lesion.contains(ys[window[0]], xs[window[1]]) & (tissue[window] > 0.5)
        instances[window][inside] = lesion.index
    return instances


def render_image(spec: SyntheticSpec, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """8-bit grayscale pixels for the grid ``ys x xs`` (1-D integer pixel coordinates)."""
    tissue = tissue_alpha(spec, ys, xs)
    instances = render_instances(spec, ys, xs, tissue)
    category = np.zeros(len(spec.lesions) + 1, np.uint8)
    for lesion in spec.lesions:
        category[lesion.index] = lesion.category
    classes = category[instances]

    texture = _honeycomb(spec, ys, xs, spacing=spec.cell_px, jitter=0.55, border=1.6, salt=100)
    if (classes == 1).any():
        atypical = _honeycomb(
            spec,
            ys,
            xs,
            spacing=1.7 * spec.cell_px,
            jitter=1.0,
            border=3.0,
            salt=200,
            border_level=215.0,
        )
        atypical = np.maximum(atypical, _dendrite_layer(spec, ys, xs))
        texture = np.where(classes == 1, atypical, texture)
    if (classes == 2).any():
        texture = np.where(classes == 2, _disarranged(spec, ys, xs), texture)
    if (classes == 3).any():
        texture = np.where(classes == 3, np.maximum(texture, _pagetoid(spec, ys, xs)), texture)

    gain = 0.8 + 0.4 * value_noise(ys, xs, spec.scale / 4, spec.seed, 300)
    image = BACKGROUND_LEVEL + tissue * (texture * gain - BACKGROUND_LEVEL)
    image *= _vignetting(spec, ys, xs)
    rng = np.random.default_rng([spec.seed, 7, int(ys[0]), int(xs[0])])
    speckle = rng.standard_normal(image.shape, dtype=np.float32)
    image = image * (1 + 0.10 * speckle) + 3.0 * rng.standard_normal(image.shape, dtype=np.float32)
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def _honeycomb(
    spec: SyntheticSpec,
    ys: np.ndarray,
    xs: np.ndarray,
    *,
    spacing: float,
    jitter: float,
    border: float,
    salt: int,
    border_level: float = 170.0,
) -> np.ndarray:
    """Bright cell borders, dim cytoplasm, dark nuclei; per-cell brightness varies."""
    d1, d2, site = voronoi_cells(ys, xs, spacing, jitter, spec.seed, salt)
    to_border = (d2 - d1) / 2
    border_glow = np.exp(-((to_border / border) ** 2))
    cytoplasm = 55.0 + 30.0 * site
    nucleus = np.clip((d1 - 0.18 * spacing) / 2.0, 0, 1)
    cells = cytoplasm * (0.45 + 0.55 * nucleus)
    return (cells + (border_level * (0.8 + 0.4 * site) - cells) * border_glow).astype(np.float32)


def _disarranged(spec: SyntheticSpec, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """No cell pattern: bright granules and clumps of irregular size."""
    fine = value_noise(ys, xs, 0.45 * spec.cell_px, spec.seed, 400)
    coarse = value_noise(ys, xs, 1.8 * spec.cell_px, spec.seed, 401)
    mix = 0.55 * fine + 0.45 * coarse
    return (50.0 + 170.0 * np.clip((mix - 0.45) * 3.5, 0, 1)).astype(np.float32)


def _pagetoid(spec: SyntheticSpec, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """Large bright round cells at a random subset of sparse lattice sites."""
    spacing = 3.0 * spec.cell_px
    d1, _, site = voronoi_cells(ys, xs, spacing, 0.6, spec.seed, 500)
    radius = (0.55 + 0.3 * site) * spec.cell_px
    present = site < 0.6
    disc = np.clip((radius - d1) / 2.0, 0, 1) * present
    return (230.0 * disc).astype(np.float32)


def _dendrite_layer(spec: SyntheticSpec, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """Thin bright branches (dendritic cells) drawn from the spec's segments."""
    layer = np.zeros((len(ys), len(xs)), np.float32)
    if not len(spec.dendrites):
        return layer
    seg = spec.dendrites
    width = 1.6
    reach = width * 3
    lo_y = np.minimum(seg[:, 0], seg[:, 2]) - reach
    hi_y = np.maximum(seg[:, 0], seg[:, 2]) + reach
    lo_x = np.minimum(seg[:, 1], seg[:, 3]) - reach
    hi_x = np.maximum(seg[:, 1], seg[:, 3]) + reach
    near = (hi_y >= ys[0]) & (lo_y <= ys[-1]) & (hi_x >= xs[0]) & (lo_x <= xs[-1])
    for index in np.flatnonzero(near):
        y0, x0, y1, x1 = seg[index]
        r0, r1 = np.searchsorted(ys, [lo_y[index], hi_y[index] + 1])
        c0, c1 = np.searchsorted(xs, [lo_x[index], hi_x[index] + 1])
        py = ys[r0:r1].astype(np.float32)[:, None]
        px = xs[c0:c1].astype(np.float32)[None, :]
        dy, dx = y1 - y0, x1 - x0
        t = np.clip(((py - y0) * dy + (px - x0) * dx) / max(dy * dy + dx * dx, 1e-6), 0, 1)
        distance = np.hypot(py - (y0 + t * dy), px - (x0 + t * dx))
        glow = 245.0 * np.exp(-((distance / width) ** 2))
        np.maximum(layer[r0:r1, c0:c1], glow, out=layer[r0:r1, c0:c1])
    return layer


def _vignetting(spec: SyntheticSpec, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """Each camera block is darker towards its edges and has its own gain: visible seams."""
    block = spec.camera_block
    ry = 2 * ((ys % block) / block) - 1
    rx = 2 * ((xs % block) / block) - 1
    falloff = (1 - 0.28 * ry**2)[:, None] * (1 - 0.28 * rx**2)[None, :]
    gain = 0.9 + 0.2 * hash_uniform(spec.seed, 600, (ys // block)[:, None], (xs // block)[None, :])
    return (falloff * gain).astype(np.float32)
