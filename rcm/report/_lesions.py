"""Metrics against expert lesion masks: tile-level ROC and suspicious-mask overlap."""

from __future__ import annotations

from typing import Any

import numpy as np

from rcm.io import open_mosaic, thumbnail
from rcm.metrics import Overlap, auroc, bootstrap_ci, fast_auroc, overlap
from rcm.outputs import TILES, TileTable
from rcm.report._cohort import Case
from rcm.stitch import resize_nearest
from rcm.tiling import window_fractions

MASK_OVERVIEW_EDGE = 4096


def lesion_metrics(
    cases: list[Case], *, tile_fraction: float = 0.5, n_resamples: int = 2000, seed: int = 0
) -> dict[str, Any]:
    """Tile AUROC (a tile is positive when `tile_fraction` of it is lesion) and Dice/IoU.

    The suspicious mask of each output is compared with the expert mask at the
    output map's resolution; pooled numbers add the pixel counts of all mosaics.
    Tile AUROC covers the outputs of tile classifiers (those with ``tiles.csv``);
    detector and segmenter outputs count in the mask overlap only.
    """
    tiles = _TileScores()
    counts_per_case: list[Overlap] = []
    for case in cases:
        assert case.mask is not None
        lesion, scale = lesion_overview(case)
        if (case.output / TILES).exists():
            tiles.add(case, lesion, scale, tile_fraction)
        suspicious = open_mosaic(case.output / "mask.zarr").data.compute() > 0
        counts_per_case.append(overlap(suspicious, resize_nearest(lesion, suspicious.shape)))
    return {
        "tile_level": tiles.metrics(tile_fraction, n_resamples, seed),
        "segmentation": _segmentation(cases, counts_per_case, n_resamples, seed),
    }


class _TileScores:
    """Classified tiles of several mosaics: lesion truth, probability and patient of each."""

    def __init__(self) -> None:
        self.labels: list[np.ndarray] = []
        self.scores: list[np.ndarray] = []
        self.groups: list[np.ndarray] = []

    def add(
        self, case: Case, lesion: np.ndarray, scale: tuple[float, float], tile_fraction: float
    ) -> None:
        windows, probabilities = _classified_tiles(case)
        self.labels.append(window_fractions(lesion, scale, windows) >= tile_fraction)
        self.scores.append(probabilities)
        self.groups.append(np.full(len(probabilities), case.patient_id))

    def metrics(self, tile_fraction: float, n_resamples: int, seed: int) -> dict[str, Any]:
        """Counts, and the tile AUROC with its patient-level interval when both classes occur."""
        labels = np.concatenate(self.labels) if self.labels else np.zeros(0, bool)
        scores = np.concatenate(self.scores) if self.scores else np.zeros(0)
        groups = np.concatenate(self.groups) if self.groups else np.zeros(0, object)
        tiles: dict[str, Any] = {
            "tiles": len(labels),
            "positive": int(labels.sum()),
            "lesion_fraction_rule": tile_fraction,
        }
        if labels.any() and not labels.all():
            interval = bootstrap_ci(
                lambda i: fast_auroc(labels[i], scores[i]),
                groups,
                n_resamples=n_resamples,
                seed=seed,
            ).as_dict()
            interval["estimate"] = auroc(labels, scores)
            tiles["auroc"] = interval
        return tiles


def _segmentation(
    cases: list[Case], counts_per_case: list[Overlap], n_resamples: int, seed: int
) -> dict[str, Any]:
    """Overlap pooled over the cohort (with a patient-level interval of Dice) and per mosaic."""
    pooled = Overlap()
    for counts in counts_per_case:
        pooled = pooled + counts
    table = np.array([[c.intersection, c.predicted, c.true] for c in counts_per_case])

    def pooled_dice(indices: np.ndarray) -> float:
        intersection, predicted, true = table[indices].sum(axis=0)
        return float(2 * intersection / (predicted + true)) if predicted + true else 1.0

    dice_ci = bootstrap_ci(
        pooled_dice,
        np.array([case.patient_id for case in cases]),
        n_resamples=n_resamples,
        seed=seed,
    ).as_dict()
    return {
        "pooled": pooled.as_dict(),
        "pooled_dice_ci": dice_ci,
        "per_mosaic": {
            case.mosaic_id: counts.as_dict()
            for case, counts in zip(cases, counts_per_case, strict=True)
        },
    }


def lesion_overview(case: Case) -> tuple[np.ndarray, tuple[float, float]]:
    """Lesion mask: labels (non-zero = lesion) or, for float masks, a probability map.

    A float mask (e.g. the share of raters marking each pixel) makes every
    overlap metric fuzzy (`rcm.metrics.overlap`).
    """
    mask = open_mosaic(case.mask)  # type: ignore[arg-type]
    overview = thumbnail(mask, MASK_OVERVIEW_EDGE)
    if np.issubdtype(np.dtype(mask.info.dtype), np.floating):
        return np.clip(overview.pixels, 0.0, 1.0), overview.scale
    return overview.pixels > 0, overview.scale


def _classified_tiles(case: Case) -> tuple[np.ndarray, np.ndarray]:
    """Windows and suspicious probabilities of the tiles the output classified."""
    table = TileTable.read(case.output / TILES)
    return table.windows[table.classified], table.suspicious[table.classified]
