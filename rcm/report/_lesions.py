"""Metrics against expert lesion masks: tile-level ROC and suspicious-mask overlap."""

from __future__ import annotations

import csv
from typing import Any

import numpy as np

from rcm.io import open_mosaic
from rcm.io._thumbnail import thumbnail
from rcm.metrics import Overlap, auroc, bootstrap_ci, fast_auroc, overlap
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
    labels: list[np.ndarray] = []
    scores: list[np.ndarray] = []
    groups: list[np.ndarray] = []
    pooled = Overlap()
    per_mosaic = {}
    counts_per_case: list[Overlap] = []
    for case in cases:
        assert case.mask is not None
        lesion, scale = lesion_overview(case)
        if (case.output / "tiles.csv").exists():
            windows, probabilities = _classified_tiles(case)
            fractions = window_fractions(lesion, scale, windows)
            labels.append(fractions >= tile_fraction)
            scores.append(probabilities)
            groups.append(np.full(len(probabilities), case.patient_id))
        suspicious = open_mosaic(case.output / "mask.zarr").data.compute() > 0
        counts = overlap(suspicious, resize_nearest(lesion, suspicious.shape))
        per_mosaic[case.mosaic_id] = counts.as_dict()
        counts_per_case.append(counts)
        pooled = pooled + counts
    tile_labels = np.concatenate(labels) if labels else np.zeros(0, bool)
    tile_scores = np.concatenate(scores) if scores else np.zeros(0)
    tile_groups = np.concatenate(groups) if groups else np.zeros(0, object)
    tiles: dict[str, Any] = {
        "tiles": len(tile_labels),
        "positive": int(tile_labels.sum()),
        "lesion_fraction_rule": tile_fraction,
    }
    if tile_labels.any() and not tile_labels.all():
        interval = bootstrap_ci(
            lambda i: fast_auroc(tile_labels[i], tile_scores[i]),
            tile_groups,
            n_resamples=n_resamples,
            seed=seed,
        ).as_dict()
        interval["estimate"] = auroc(tile_labels, tile_scores)
        tiles["auroc"] = interval
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
        "tile_level": tiles,
        "segmentation": {
            "pooled": pooled.as_dict(),
            "pooled_dice_ci": dice_ci,
            "per_mosaic": per_mosaic,
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
    windows, probabilities = [], []
    with (case.output / "tiles.csv").open(newline="") as handle:
        for row in csv.DictReader(handle):
            if row["p_suspicious"]:
                windows.append([int(row[k]) for k in ("y0", "x0", "y1", "x1")])
                probabilities.append(float(row["p_suspicious"]))
    return np.array(windows, np.int64).reshape(-1, 4), np.array(probabilities, np.float64)
