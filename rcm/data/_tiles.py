"""Tile labels from expert lesion masks, and a dataset that reads the tiles lazily.

A tile's label follows the share of lesion pixels in it (`rcm.data._lesion_masks`,
the reader evaluation uses too): at or above
``positive_at`` it is lesion, below ``negative_below`` it is benign, in between
it is ambiguous and left out of training (but kept in the table). Unlabelled
area counts as benign, so a benign mosaic needs no mask. A positive mosaic
without a mask cannot be labelled tile by tile; it is reported, not dropped
silently. The tile grid and tissue rule are those of ``rcm infer``, so the
tiles a model is trained on are the tiles it is later run on.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from rcm.data._labelled import LabelledMosaic
from rcm.data._lesion_masks import lesion_shares
from rcm.io import Mosaic, atomic_output, open_mosaic
from rcm.models import to_unit
from rcm.tiling import TileGrid, TissueOptions, detect_tissue, tile_px_for

LESION, BENIGN, AMBIGUOUS = 1, 0, -1


@dataclass(frozen=True)
class TileLabelRule:
    """How tiles are cut and labelled.

    Attributes:
        tile_px: The model's input edge in pixels.
        um_per_px: The model's pixel size; tiles are cut to cover the same microns in
            every mosaic (None: cut `tile_px` mosaic pixels, whatever their size).
        positive_at: Lesion share at or above which a tile is lesion (evaluation uses 0.5).
        negative_below: Lesion share below which a tile is benign.
        min_tissue: Tiles with less tissue are not used (the inference rule).
        overlap: Fraction of a tile shared with its neighbours.

    """

    tile_px: int
    um_per_px: float | None = None
    positive_at: float = 0.5
    negative_below: float = 0.1
    min_tissue: float = 0.25
    overlap: float = 0.0

    def __post_init__(self) -> None:
        if self.tile_px < 8:
            raise ValueError(f"tile_px must be at least 8, got {self.tile_px}")
        if self.um_per_px is not None and self.um_per_px <= 0:
            raise ValueError(f"um_per_px must be positive, got {self.um_per_px}")
        if not 0 < self.negative_below <= self.positive_at <= 1:
            raise ValueError(
                "need 0 < negative_below <= positive_at <= 1, got "
                f"{self.negative_below} and {self.positive_at}"
            )
        if not 0 < self.min_tissue <= 1 or not 0 <= self.overlap < 1:
            raise ValueError("min_tissue must be in (0, 1] and overlap in [0, 1)")

    def source_edge(self, mosaic_um_per_px: float | None) -> int:
        """Tile edge in a mosaic's pixels (the rule of ``rcm infer``)."""
        if self.um_per_px is None or mosaic_um_per_px is None:
            return self.tile_px
        return tile_px_for(self.tile_px * self.um_per_px, mosaic_um_per_px)

    def label(self, lesion_fraction: np.ndarray) -> np.ndarray:
        """LESION, BENIGN or AMBIGUOUS per tile."""
        labels = np.full(lesion_fraction.shape, AMBIGUOUS, np.int64)
        labels[lesion_fraction >= self.positive_at] = LESION
        labels[lesion_fraction < self.negative_below] = BENIGN
        return labels


@dataclass(frozen=True)
class TileLabels:
    """Labelled tissue tiles of many mosaics, one row per tile.

    Attributes:
        mosaics: The labelled mosaics the rows point into.
        mosaic_index: Index into `mosaics` per tile.
        windows: ``(n, 4)`` ``[y0, x0, y1, x1]`` in mosaic pixels.
        tissue: Tissue share per tile.
        lesion: Lesion share per tile.
        labels: LESION, BENIGN or AMBIGUOUS per tile.
        skipped: Mosaics that could not be labelled, with the reason.

    """

    mosaics: tuple[LabelledMosaic, ...]
    mosaic_index: np.ndarray
    windows: np.ndarray
    tissue: np.ndarray
    lesion: np.ndarray
    labels: np.ndarray
    skipped: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        n = len(self.mosaic_index)
        if self.windows.shape != (n, 4) or not (
            len(self.tissue) == len(self.lesion) == len(self.labels) == n
        ):
            raise ValueError("a tile table needs one window, share and label per tile")

    def __len__(self) -> int:
        return len(self.labels)

    def labelled(self) -> np.ndarray:
        """Indices of tiles that are lesion or benign (ambiguous ones left out)."""
        return np.flatnonzero(self.labels != AMBIGUOUS)

    def counts(self) -> dict[str, int]:
        return {
            "lesion": int(np.count_nonzero(self.labels == LESION)),
            "benign": int(np.count_nonzero(self.labels == BENIGN)),
            "ambiguous": int(np.count_nonzero(self.labels == AMBIGUOUS)),
        }

    def write_csv(self, path: str | os.PathLike[str], *, overwrite: bool = False) -> None:
        """One row per tile (mosaic id, window, shares, label), for inspection."""
        names = {LESION: "lesion", BENIGN: "benign", AMBIGUOUS: "ambiguous"}
        with atomic_output(path, overwrite=overwrite) as partial, partial.open("w") as handle:
            writer = csv.writer(handle)
            writer.writerow(["mosaic_id", "y0", "x0", "y1", "x1", "tissue", "lesion", "label"])
            for row in range(len(self)):
                writer.writerow(
                    [
                        self.mosaics[self.mosaic_index[row]].mosaic_id,
                        *self.windows[row].tolist(),
                        f"{self.tissue[row]:.4f}",
                        f"{self.lesion[row]:.4f}",
                        names[int(self.labels[row])],
                    ]
                )


def label_tiles(mosaics: list[LabelledMosaic], rule: TileLabelRule) -> TileLabels:
    """Cut every mosaic into the inference tile grid and label its tissue tiles."""
    parts: list[tuple[int, np.ndarray, np.ndarray, np.ndarray]] = []
    skipped: list[tuple[str, str]] = []
    for index, item in enumerate(mosaics):
        if item.positive and item.mask is None:
            skipped.append((item.mosaic_id, "positive mosaic without a lesion mask"))
            continue
        mosaic = open_mosaic(item.mosaic)
        windows, tissue = _tissue_tiles(mosaic, rule)
        if item.mask is None:
            lesion = np.zeros(len(windows))
        else:
            lesion = lesion_shares(item.mask, mosaic.info.shape[:2], windows).windows
        parts.append((index, windows, tissue, lesion))
    if not parts:
        return _empty_table(mosaics, skipped)
    lesion_all = np.concatenate([part[3] for part in parts])
    return TileLabels(
        mosaics=tuple(mosaics),
        mosaic_index=np.concatenate([np.full(len(part[1]), part[0]) for part in parts]),
        windows=np.concatenate([part[1] for part in parts]).astype(np.int64),
        tissue=np.concatenate([part[2] for part in parts]),
        lesion=lesion_all,
        labels=rule.label(lesion_all),
        skipped=tuple(skipped),
    )


def _empty_table(mosaics: list[LabelledMosaic], skipped: list[tuple[str, str]]) -> TileLabels:
    nothing = np.zeros(0)
    return TileLabels(
        tuple(mosaics),
        np.zeros(0, np.int64),
        np.zeros((0, 4), np.int64),
        nothing,
        nothing,
        np.zeros(0, np.int64),
        tuple(skipped),
    )


def _tissue_tiles(mosaic: Mosaic, rule: TileLabelRule) -> tuple[np.ndarray, np.ndarray]:
    info = mosaic.info
    edge = rule.source_edge(info.um_per_px)
    grid = TileGrid.with_overlap(info.height, info.width, edge, rule.overlap, "pad")
    windows = grid.windows()
    fractions = detect_tissue(mosaic, TissueOptions(min_fraction=rule.min_tissue)).window_fractions(
        windows
    )
    keep = fractions >= rule.min_tissue
    return windows[keep], fractions[keep]


class TileDataset(torch.utils.data.Dataset[tuple[torch.Tensor, int]]):
    """Labelled tiles read from their mosaics on demand (no tile files on disk).

    Items are ``(tile, label)``: the tile as the model's float input in [0, 1]
    before normalisation, ``(in_chans, tile_px, tile_px)`` (`rcm.models.to_unit`:
    zero beyond the mosaic edge, resized when the mosaic's pixel size differs from
    the model's), and 0 or 1. Mosaics are opened once per process, so the
    dataset pickles cheaply into DataLoader workers.
    """

    def __init__(
        self,
        table: TileLabels,
        rule: TileLabelRule,
        *,
        in_chans: int = 1,
        indices: np.ndarray | None = None,
    ) -> None:
        self.table, self.rule, self.in_chans = table, rule, in_chans
        self.indices = table.labelled() if indices is None else np.asarray(indices)
        self._open: dict[int, Mosaic] = {}

    def __len__(self) -> int:
        return len(self.indices)

    @property
    def labels(self) -> np.ndarray:
        return self.table.labels[self.indices]

    def __getitem__(self, item: int) -> tuple[torch.Tensor, int]:
        row = int(self.indices[item])
        mosaic = self._mosaic(int(self.table.mosaic_index[row]))
        y0, x0, y1, x1 = (int(v) for v in self.table.windows[row])
        pixels = torch.from_numpy(mosaic.read_region(y0, x0, y1, x1))
        tile = to_unit(pixels[None], self.in_chans, self.rule.tile_px)[0]
        return tile, int(self.table.labels[row])

    def _mosaic(self, index: int) -> Mosaic:
        if index not in self._open:
            self._open[index] = open_mosaic(self.table.mosaics[index].mosaic)
        return self._open[index]

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_open": {}}


__all__ = [
    "AMBIGUOUS",
    "BENIGN",
    "LESION",
    "TileDataset",
    "TileLabelRule",
    "TileLabels",
    "label_tiles",
]
