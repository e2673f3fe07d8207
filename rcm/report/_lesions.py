"""Metrics against expert lesion masks: tile-level ROC and suspicious-mask overlap."""

from __future__ import annotations

from typing import Any

import numpy as np

from rcm.data import LesionShares, lesion_shares
from rcm.io import open_mosaic
from rcm.metrics import Overlap, auroc, bootstrap_ci, fast_auroc, overlap
from rcm.outputs import SUMMARY, TILES, MosaicSummary, TileTable
from rcm.report._cohort import Case
from rcm.stitch import resize_nearest


def lesion_metrics(
    cases: list[Case], *, tile_fraction: float = 0.5, n_resamples: int = 2000, seed: int = 0
) -> dict[str, Any]:
    """Tile AUROC (a tile is positive when `tile_fraction` of it is lesion) and Dice/IoU.

    The suspicious mask of each output is compared with the expert mask at the
    output map's resolution; pooled numbers add the pixel counts of all mosaics.
    Lesion shares are those training labels use (`rcm.data.lesion_shares`).
    Tile AUROC covers the outputs of tile classifiers (those with ``tiles.csv``);
    detector and segmenter outputs count in the mask overlap only.
    """
    tiles = _TileScores()
    counts_per_case: list[Overlap] = []
    for case in cases:
        assert case.mask is not None
        windows, probabilities = _classified_tiles(case)
        shares = _shares(case, windows)
        tiles.add(case, shares.windows >= tile_fraction, probabilities)
        suspicious = open_mosaic(case.output / "mask.zarr").data.compute() > 0
        truth = resize_nearest(shares.truth(), suspicious.shape)
        counts_per_case.append(overlap(suspicious, truth))
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

    def add(self, case: Case, labels: np.ndarray, probabilities: np.ndarray) -> None:
        self.labels.append(labels)
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
    """Lesion truth on an overview, and mosaic pixels per overview pixel.

    Label masks give booleans (share of lesion pixels >= 0.5), float masks (e.g.
    the share of raters marking each pixel) their mean, which makes every
    overlap metric fuzzy (`rcm.metrics.overlap`).
    """
    shares = _shares(case, np.zeros((0, 4), np.int64))
    return shares.truth(), shares.scale


def _shares(case: Case, windows: np.ndarray) -> LesionShares:
    """The case's mask laid over the mosaic its output was made from."""
    assert case.mask is not None
    shape = MosaicSummary.read(case.output / SUMMARY).mosaic.shape
    return lesion_shares(case.mask, shape, windows)


def _classified_tiles(case: Case) -> tuple[np.ndarray, np.ndarray]:
    """Windows and suspicious probabilities of the tiles the output classified (none: no table)."""
    if not (case.output / TILES).exists():
        return np.zeros((0, 4), np.int64), np.zeros(0)
    table = TileTable.read(case.output / TILES)
    return table.windows[table.classified], table.suspicious[table.classified]
