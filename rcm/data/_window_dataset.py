"""A lazy dataset of mosaic windows and their lesion targets, for detectors and segmenters.

Each mosaic is cut into a `TileGrid` of windows (padded past the edges, as in
inference); windows with too little tissue are left out. Nothing is read until
an item is asked for: then the window's pixels and the same window of the
lesion mask are read, and the mask becomes a `WindowTarget`.

A lesion mask may be stored at another resolution than its mosaic (a coarser
copy is common): when one of its pyramid levels has the mosaic's shape that
level is read, otherwise the mask is resampled to mosaic pixels by nearest
neighbour. Its aspect must match the mosaic's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from rcm.data._labelled import LabelledMosaic
from rcm.data._lesion_masks import check_lesion_mask, lesion_shares
from rcm.data._window_targets import (
    DEFAULT_MIN_AREA,
    WindowTarget,
    random_flip_rotate,
    window_target,
)
from rcm.errors import InputError
from rcm.io import Mosaic, open_mosaic
from rcm.tiling import TileGrid, detect_tissue

Sample = tuple[np.ndarray, WindowTarget]


@dataclass(frozen=True, eq=False)
class WindowTable:
    """The windows of a `WindowDataset`, one row per item, in item order.

    Attributes:
        mosaic: ``(n,)`` int64 index into the dataset's mosaics.
        windows: ``(n, 4)`` int64 ``[y0, x0, y1, x1]`` in mosaic pixels.
        tissue: ``(n,)`` float64 tissue share of each window.
        lesion_px: ``(n,)`` int64 lesion pixels (mask > 0) in each window, in mosaic
            pixels (counted on the full-resolution mask, `rcm.data.lesion_shares`).

    """

    mosaic: np.ndarray
    windows: np.ndarray
    tissue: np.ndarray
    lesion_px: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.mosaic)
        if self.windows.shape != (n, 4) or not len(self.tissue) == len(self.lesion_px) == n:
            raise ValueError("a window table needs one window, tissue share and count per row")

    def __len__(self) -> int:
        return len(self.mosaic)

    @property
    def positive(self) -> np.ndarray:
        """True for windows with lesion pixels."""
        return self.lesion_px > 0

    def summary(self) -> dict[str, int]:
        """Counts for the training log."""
        return {
            "windows": len(self),
            "positive_windows": int(self.positive.sum()),
            "mosaics": len(np.unique(self.mosaic)),
        }


class WindowDataset(torch.utils.data.Dataset[Sample]):
    """Windows of labelled mosaics with lesion targets, read on demand.

    Items are ``(pixels, target)``: the stored window (``(h, w)`` or ``(h, w, c)``,
    uint8 or uint16, zero beyond the mosaic edge) and its `WindowTarget`. Mosaics
    and masks are opened once per process and never pickled, so the dataset
    ships cheaply to DataLoader workers.

    Args:
        mosaics: Labelled mosaics; a negative mosaic without a mask has no
            lesions, a positive one without a mask is skipped (see `skipped`).
        window_px: Window edge in mosaic pixels.
        overlap: Share of a window its neighbours overlap, in [0, 1).
        min_tissue: Windows with a smaller tissue share are left out.
        positive_only: Keep only windows with lesion pixels.
        min_area: Lesion components smaller than this are not instances (see
            `window_target`).
        augment: Apply a random flip and rotation to every item.
        seed: Seeds the augmentation; item ``i`` in epoch ``e`` always gets the same one.

    Raises:
        InputError: If a mask is not a single-channel integer image with the
            mosaic's aspect, or a mosaic cannot be read.

    """

    def __init__(
        self,
        *,
        mosaics: Sequence[LabelledMosaic],
        window_px: int,
        overlap: float = 0.0,
        min_tissue: float = 0.25,
        positive_only: bool = False,
        min_area: int = DEFAULT_MIN_AREA,
        augment: bool = False,
        seed: int = 0,
    ) -> None:
        if window_px < 1:
            raise ValueError(f"window_px must be positive, got {window_px}")
        if not 0 <= min_tissue <= 1:
            raise ValueError(f"min_tissue must be in [0, 1], got {min_tissue}")
        self.mosaics = tuple(mosaics)
        self.window_px = window_px
        self.min_area = min_area
        self.augment = augment
        self.seed = seed
        self.epoch = 0
        self._open: dict[int, tuple[Mosaic, Mosaic | None]] = {}
        tables, skipped = [], []
        for index, item in enumerate(self.mosaics):
            if item.positive and item.mask is None:
                skipped.append((item.mosaic_id, "positive mosaic without a lesion mask"))
                continue
            table = self._cut(index, overlap, min_tissue)
            tables.append(_select(table, table.positive) if positive_only else table)
        self.skipped: tuple[tuple[str, str], ...] = tuple(skipped)
        self._table = _concatenate(tables)

    @property
    def windows(self) -> WindowTable:
        """Where every item lies, its tissue share and lesion pixels."""
        return self._table

    def __len__(self) -> int:
        return len(self._table)

    def set_epoch(self, epoch: int) -> None:
        """Draw new augmentations (call before each epoch's DataLoader iteration)."""
        self.epoch = epoch

    def __getitem__(self, item: int) -> Sample:
        index = int(self._table.mosaic[item])
        y0, x0, y1, x1 = (int(v) for v in self._table.windows[item])
        mosaic, mask = self._opened(index)
        pixels = mosaic.read_region(y0, x0, y1, x1)
        if mask is None:
            target = WindowTarget.empty(y1 - y0, x1 - x0)
        else:
            classes = read_mask_window(mask, mosaic.info.shape[:2], (y0, x0, y1, x1))
            target = window_target(classes, min_area=self.min_area)
        if self.augment:
            rng = np.random.default_rng((self.seed, self.epoch, item))
            pixels, target = random_flip_rotate(pixels, target, rng)
        return pixels, target

    def sample_weights(self, positive_share: float = 0.5) -> np.ndarray:
        """Per-item weights for `torch.utils.data.WeightedRandomSampler`.

        Windows with lesion pixels get `positive_share` of the total weight, the
        others the rest; when either group is empty every window weighs the same.
        """
        if not 0 <= positive_share <= 1:
            raise ValueError(f"positive_share must be in [0, 1], got {positive_share}")
        positive = self._table.positive
        n_positive = int(positive.sum())
        n_negative = len(positive) - n_positive
        if n_positive == 0 or n_negative == 0:
            return np.ones(len(positive))
        return np.where(positive, positive_share / n_positive, (1 - positive_share) / n_negative)

    def _cut(self, index: int, overlap: float, min_tissue: float) -> WindowTable:
        """The tissue windows of one mosaic, with their lesion pixels."""
        item = self.mosaics[index]
        mosaic = open_mosaic(item.mosaic)
        mask = None if item.mask is None else open_mosaic(item.mask)
        shape = mosaic.info.shape[:2]
        if mask is not None:
            check_mask(mask, shape)
        grid = TileGrid.with_overlap(shape[0], shape[1], self.window_px, overlap, "pad")
        windows = grid.windows()
        tissue = detect_tissue(mosaic).window_fractions(windows)
        keep = tissue >= min_tissue
        windows, tissue = windows[keep], tissue[keep]
        lesion = np.zeros(len(windows), np.int64)
        if mask is not None:
            lesion = lesion_pixels(mask, shape, windows)
        return WindowTable(np.full(len(windows), index, np.int64), windows, tissue, lesion)

    def _opened(self, index: int) -> tuple[Mosaic, Mosaic | None]:
        if index not in self._open:
            item = self.mosaics[index]
            mask = None if item.mask is None else open_mosaic(item.mask)
            self._open[index] = (open_mosaic(item.mosaic), mask)
        return self._open[index]

    def __getstate__(self) -> dict[str, Any]:
        # Open files stay in the process that opened them; workers open their own.
        return {**self.__dict__, "_open": {}}


def _select(table: WindowTable, keep: np.ndarray) -> WindowTable:
    return WindowTable(
        table.mosaic[keep], table.windows[keep], table.tissue[keep], table.lesion_px[keep]
    )


def _concatenate(tables: list[WindowTable]) -> WindowTable:
    if not tables:
        return WindowTable(
            np.zeros(0, np.int64), np.zeros((0, 4), np.int64), np.zeros(0), np.zeros(0, np.int64)
        )
    return WindowTable(
        np.concatenate([t.mosaic for t in tables]),
        np.concatenate([t.windows for t in tables]).astype(np.int64),
        np.concatenate([t.tissue for t in tables]),
        np.concatenate([t.lesion_px for t in tables]),
    )


def collate_windows(batch: Sequence[Sample]) -> tuple[np.ndarray, list[WindowTarget]]:
    """DataLoader collate: pixels stacked into one array (still integers), targets listed."""
    return np.stack([pixels for pixels, _ in batch]), [target for _, target in batch]


def check_mask(mask: Mosaic, mosaic_shape: tuple[int, ...]) -> None:
    """Refuse a lesion mask that cannot be laid over its mosaic, or holds no integer labels.

    Raises:
        InputError: If the mask has channels, is not integers, or its aspect
            differs from the mosaic's by more than a pixel of rounding.

    """
    check_lesion_mask(mask, mosaic_shape, labels_only=True)


def read_mask_window(
    mask: Mosaic, mosaic_shape: tuple[int, ...], window: tuple[int, int, int, int]
) -> np.ndarray:
    """The class mask under a ``[y0, x0, y1, x1]`` window of mosaic pixels, uint8.

    Reads the mask level that has the mosaic's shape when there is one, else
    level 0 resampled by nearest neighbour (pixel centres); zero beyond the mosaic.
    """
    y0, x0, y1, x1 = window
    height, width = mosaic_shape[:2]
    for level, shape in enumerate(mask.info.level_shapes):
        if shape[:2] == (height, width):
            return _as_uint8(mask.read_region(y0, x0, y1, x1, level), mask)
    rows = _nearest(np.arange(y0, y1), mask.info.height, height)
    cols = _nearest(np.arange(x0, x1), mask.info.width, width)
    top, left = int(rows.min()), int(cols.min())
    region = mask.read_region(top, left, int(rows.max()) + 1, int(cols.max()) + 1)
    return _as_uint8(region[np.ix_(rows - top, cols - left)], mask)


def _nearest(positions: np.ndarray, mask_length: int, mosaic_length: int) -> np.ndarray:
    """Mask index whose pixel contains the centre of each mosaic pixel."""
    return np.floor((positions + 0.5) * (mask_length / mosaic_length)).astype(np.int64)


def _as_uint8(classes: np.ndarray, mask: Mosaic) -> np.ndarray:
    if classes.dtype != np.uint8 and classes.size and int(classes.max()) > 255:
        raise InputError(mask.info.path, "lesion mask values must lie in [0, 255]")
    return classes.astype(np.uint8, copy=False)


def lesion_pixels(mask: Mosaic, mosaic_shape: tuple[int, ...], windows: np.ndarray) -> np.ndarray:
    """Lesion pixels (mask > 0) in each window, in mosaic pixels (`lesion_shares`)."""
    areas = (windows[:, 2] - windows[:, 0]) * (windows[:, 3] - windows[:, 1])
    shares = lesion_shares(mask, mosaic_shape, windows).windows
    return np.rint(shares * areas).astype(np.int64)


__all__ = [
    "WindowDataset",
    "WindowTable",
    "check_mask",
    "collate_windows",
    "lesion_pixels",
    "read_mask_window",
]
