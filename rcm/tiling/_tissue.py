"""Tissue detection for RCM: tissue is *bright on a dark background*.

Whole-slide toolkits look for dark tissue on a bright glass slide and select
the background of an RCM mosaic instead. Here the mask is the smoothed
overview above an Otsu threshold that is clipped to a plausible range, so a
mosaic that is all tissue (or all background) is not split in two.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from skimage.filters import threshold_otsu

from rcm.io import Mosaic, thumbnail


@dataclass(frozen=True)
class TissueOptions:
    """How tissue is found.

    Attributes:
        max_edge: Longer edge of the overview the mask is computed on.
        threshold: Fixed intensity threshold in [0, 1] of the type's range;
            None picks Otsu's threshold, clipped to [`low`, `high`].
        low: Lowest automatic threshold (RCM background sits near 0.03).
        high: Highest automatic threshold.
        smooth_px: Gaussian smoothing in mosaic pixels (about two cells), so dark
            cell interiors and nuclei do not punch holes into tissue.
        min_fraction: A tile is tissue when at least this fraction of it is.

    """

    max_edge: int = 1024
    threshold: float | None = None
    low: float = 0.06
    high: float = 0.22
    smooth_px: float = 40.0
    min_fraction: float = 0.25

    def __post_init__(self) -> None:
        if not 0 < self.min_fraction <= 1:
            raise ValueError(f"min_fraction must be in (0, 1], got {self.min_fraction}")
        if self.threshold is not None and not 0 <= self.threshold <= 1:
            raise ValueError(f"threshold must be in [0, 1], got {self.threshold}")


@dataclass(frozen=True)
class TissueMask:
    """A boolean tissue mask on an overview of the mosaic.

    Attributes:
        mask: True where there is tissue, at overview resolution.
        scale: Mosaic pixels per mask pixel, (y, x).
        threshold: The intensity threshold used, in [0, 1].

    """

    mask: np.ndarray
    scale: tuple[float, float]
    threshold: float

    @property
    def fraction(self) -> float:
        """Share of the mosaic covered by tissue."""
        return float(self.mask.mean()) if self.mask.size else 0.0

    def window_fractions(self, windows: np.ndarray) -> np.ndarray:
        """Tissue fraction of each ``[y0, x0, y1, x1]`` window (mosaic pixels)."""
        return window_fractions(self.mask, self.scale, windows)


def window_fractions(
    mask: np.ndarray, scale: tuple[float, float], windows: np.ndarray
) -> np.ndarray:
    """Share of each ``[y0, x0, y1, x1]`` window (mosaic pixels) that is True in `mask`.

    A float mask in [0, 1] gives the mean value under each window instead.

    `mask` covers the mosaic at `scale` mosaic pixels per mask pixel; parts of a
    window beyond the mosaic count as False. An integral image makes it one
    lookup per window.
    """
    weights = mask.astype(np.float64 if mask.dtype.kind == "f" else np.int64)
    integral = np.pad(weights.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    height, width = mask.shape
    sy, sx = scale
    y0 = np.clip(np.round(windows[:, 0] / sy).astype(np.int64), 0, height)
    x0 = np.clip(np.round(windows[:, 1] / sx).astype(np.int64), 0, width)
    y1 = np.clip(np.round(windows[:, 2] / sy).astype(np.int64), 0, height)
    x1 = np.clip(np.round(windows[:, 3] / sx).astype(np.int64), 0, width)
    inside = integral[y1, x1] - integral[y0, x1] - integral[y1, x0] + integral[y0, x0]
    full_area = np.maximum(
        np.round((windows[:, 2] - windows[:, 0]) / sy)
        * np.round((windows[:, 3] - windows[:, 1]) / sx),
        1,
    )
    return np.clip(inside / full_area, 0.0, 1.0)


def detect_tissue(mosaic: Mosaic, options: TissueOptions | None = None) -> TissueMask:
    """Find tissue on an overview of the mosaic (never reads it at full resolution twice)."""
    options = options or TissueOptions()
    overview = thumbnail(mosaic, options.max_edge)
    return tissue_from_overview(overview.pixels, overview.scale, mosaic.info.dtype, options)


def tissue_from_overview(
    pixels: np.ndarray, scale: tuple[float, float], dtype: str, options: TissueOptions
) -> TissueMask:
    """The mask for an overview already in memory (float, in the source type's units)."""
    gray = pixels if pixels.ndim == 2 else pixels[..., :3].mean(axis=-1)
    top = float(np.iinfo(dtype).max) if np.issubdtype(np.dtype(dtype), np.integer) else 1.0
    sigma = [max(0.5, options.smooth_px / step) for step in scale]
    gray = ndimage.gaussian_filter(gray / top, sigma)
    if options.threshold is not None:
        threshold = options.threshold
    else:
        threshold = float(np.clip(threshold_otsu(gray), options.low, options.high))
    mask = gray > threshold
    # Drop specks and fill pinholes smaller than about a cell cluster.
    mask = ndimage.binary_opening(mask, iterations=1)
    mask = ndimage.binary_closing(mask, iterations=1, border_value=1) & (gray > options.low)
    return TissueMask(mask, scale, threshold)
