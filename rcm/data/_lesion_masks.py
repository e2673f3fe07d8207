"""Expert lesion masks laid over their mosaics: the one reader of lesion shares.

A lesion mask is a single-channel image with its mosaic's aspect, stored at
the mosaic's resolution or any other (a coarser copy is common). Integers are
labels (0 = no lesion, any value above 0 a lesion class); floats are soft masks
(e.g. the share of raters marking a pixel), clipped to [0, 1], NaN refused.

A share is the mean of ``mask > 0`` (of the soft value) over the level-0 mask
pixels a window covers, so a tile with 30% lesion pixels has share 0.30
whatever the mask's size or pyramid levels: a pyramid level of a label image
keeps every other pixel (a sample) and a mean-downsampled level thresholded at
0 makes any lesion pixel a lesion block. Level 0 is streamed in blocks, so
memory is bounded by the block, not the mask. Training labels
(`rcm.data._tiles.label_tiles`) and evaluation (tile AUROC and mask overlap in
``rcm.report``) both read masks here.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np

from rcm.errors import InputError
from rcm.io import Mosaic, open_mosaic

MASK_OVERVIEW_EDGE = 4096  # longer edge of the share overview (mask overlap in evaluation)
_BLOCK = 2048  # mask pixels read at a time: an int32 integral image of 16 MB


@dataclass(frozen=True)
class LesionShares:
    """Lesion shares of one mask over its mosaic.

    Attributes:
        windows: ``(n,)`` share of each window asked for; parts of a window beyond
            the mosaic count as no lesion.
        overview: ``(h, w)`` float32 share of each overview pixel, longer edge at
            most `MASK_OVERVIEW_EDGE`.
        scale: Mosaic pixels per overview pixel ``(y, x)``.
        soft: Whether the mask holds soft values rather than labels.

    """

    windows: np.ndarray
    overview: np.ndarray
    scale: tuple[float, float]
    soft: bool

    def truth(self) -> np.ndarray:
        """The overview as truth for mask overlap: shares of a soft mask, else share >= 0.5."""
        return self.overview if self.soft else self.overview >= 0.5


def open_lesion_mask(path: str | os.PathLike[str], mosaic_shape: tuple[int, ...]) -> Mosaic:
    """Open a lesion mask and check that it can be laid over its mosaic (`check_lesion_mask`)."""
    mask = open_mosaic(path)
    check_lesion_mask(mask, mosaic_shape)
    return mask


def check_lesion_mask(
    mask: Mosaic, mosaic_shape: tuple[int, ...], *, labels_only: bool = False
) -> None:
    """Refuse a lesion mask that cannot be laid over its mosaic.

    Args:
        mask: The opened mask.
        mosaic_shape: Its mosaic's ``(height, width, ...)``.
        labels_only: Refuse soft (float) masks too (instances need classes).

    Raises:
        InputError: If the mask has channels, holds neither integers nor floats
            (only integers with `labels_only`), or its aspect differs from the
            mosaic's by more than a pixel of rounding.

    """
    info = mask.info
    kinds = "biu" if labels_only else "biuf"
    if len(info.shape) != 2 or np.dtype(info.dtype).kind not in kinds:
        wanted = "integer labels" if labels_only else "labels or soft values"
        raise InputError(
            info.path,
            f"a lesion mask must be a single-channel image of {wanted}, got {info.dtype} "
            f"with shape {info.shape}",
        )
    height, width = mosaic_shape[:2]
    # One scale for both axes, allowing for the rounding of an odd edge when downsampled.
    scale = (height + width) / (info.height + info.width)
    if abs(height / scale - info.height) > 1 or abs(width / scale - info.width) > 1:
        raise InputError(
            info.path,
            f"lesion mask is {info.width} x {info.height} pixels but its mosaic is "
            f"{width} x {height}: not the shape of its mosaic at any scale",
        )


def lesion_shares(
    path: str | os.PathLike[str] | Mosaic,
    mosaic_shape: tuple[int, ...],
    windows: np.ndarray,
    *,
    max_edge: int = MASK_OVERVIEW_EDGE,
) -> LesionShares:
    """Share of lesion pixels in each ``[y0, x0, y1, x1]`` window and on an overview.

    Args:
        path: The lesion mask (or the mask opened and checked by `check_lesion_mask`).
        mosaic_shape: Its mosaic's ``(height, width, ...)``; windows are in its pixels.
        windows: ``(n, 4)`` windows in mosaic pixels.
        max_edge: Longer edge of the overview at most.

    Raises:
        InputError: If the mask cannot be laid over the mosaic (`open_lesion_mask`)
            or a soft mask holds NaN.

    """
    mask = path if isinstance(path, Mosaic) else open_lesion_mask(path, mosaic_shape)
    height, width = mask.info.shape[:2]
    soft = np.dtype(mask.info.dtype).kind == "f"
    factor = 1 << max(0, math.ceil(math.log2(max(height, width) / max_edge)))
    edge = factor * max(1, _BLOCK // factor)  # blocks hold whole overview pixels
    bounds = _mask_bounds(
        np.asarray(windows, np.int64).reshape(-1, 4), mosaic_shape, (height, width)
    )
    overview = np.zeros((math.ceil(height / factor), math.ceil(width / factor)), np.float32)
    inside = np.zeros(len(bounds))
    for top in range(0, height, edge):
        for left in range(0, width, edge):
            block = mask.read_region(top, left, min(top + edge, height), min(left + edge, width))
            values = _lesion_values(block, soft, mask.info.path)
            rows, cols = top // factor, left // factor
            share = _block_share(values, factor)
            overview[rows : rows + share.shape[0], cols : cols + share.shape[1]] = share
            inside += _window_sums(values, bounds - np.array([top, left, top, left]))
    area = (bounds[:, 2] - bounds[:, 0]) * (bounds[:, 3] - bounds[:, 1])
    shares = np.clip(inside / np.maximum(area, 1), 0.0, 1.0)
    scale = (mosaic_shape[0] / overview.shape[0], mosaic_shape[1] / overview.shape[1])
    return LesionShares(shares, overview, scale, soft)


def _mask_bounds(
    windows: np.ndarray, mosaic_shape: tuple[int, ...], mask_shape: tuple[int, int]
) -> np.ndarray:
    """Windows in mask pixels (edges rounded to the nearest mask pixel edge)."""
    ry, rx = mask_shape[0] / mosaic_shape[0], mask_shape[1] / mosaic_shape[1]
    factors = np.array([ry, rx, ry, rx])
    return np.round(windows * factors).astype(np.int64)


def _lesion_values(block: np.ndarray, soft: bool, path: str | os.PathLike[str]) -> np.ndarray:
    """1 for lesion pixels (0 elsewhere) of a label mask; a soft mask's values in [0, 1]."""
    if not soft:
        return (block > 0).astype(np.uint8)
    if np.isnan(block).any():
        raise InputError(path, "soft lesion mask holds NaN values")
    return np.clip(block, 0.0, 1.0).astype(np.float32)


def _block_share(values: np.ndarray, factor: int) -> np.ndarray:
    """Mean of `factor` x `factor` groups; partial edge groups average what exists."""
    height, width = values.shape
    rows, cols = math.ceil(height / factor), math.ceil(width / factor)
    padded = np.zeros((rows * factor, cols * factor), values.dtype)
    padded[:height, :width] = values
    sums = padded.reshape(rows, factor, cols, factor).sum(axis=(1, 3), dtype=np.float64)
    counts = np.outer(
        np.minimum(factor, height - factor * np.arange(rows)),
        np.minimum(factor, width - factor * np.arange(cols)),
    )
    return (sums / counts).astype(np.float32)


def _window_sums(values: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """Sum of `values` inside each window (block coordinates; parts outside add nothing)."""
    height, width = values.shape
    kind = np.float64 if values.dtype.kind == "f" else np.int32
    integral = np.zeros((height + 1, width + 1), kind)
    np.cumsum(values, axis=0, dtype=kind, out=integral[1:, 1:])
    np.cumsum(integral[1:, 1:], axis=1, out=integral[1:, 1:])
    y0, y1 = (np.clip(bounds[:, i], 0, height) for i in (0, 2))
    x0, x1 = (np.clip(bounds[:, i], 0, width) for i in (1, 3))
    return (integral[y1, x1] - integral[y0, x1] - integral[y1, x0] + integral[y0, x0]).astype(
        np.float64
    )


__all__ = [
    "MASK_OVERVIEW_EDGE",
    "LesionShares",
    "check_lesion_mask",
    "lesion_shares",
    "open_lesion_mask",
]
