"""Scores for explanation maps: plausibility against expert masks, faithfulness by occlusion.

Plausibility asks whether the explanation lies where experts marked lesion: the
fuzzy Dice, sensitivity and specificity of the map (values in [0, 1]) against
the mask, and the same after thresholding the map. Faithfulness asks whether the
model needs what the explanation points at: blocking the most explained pixels
should lower the score more than blocking as many random pixels.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rcm.metrics._segmentation import Overlap, overlap


def plausibility(
    explanation: np.ndarray, truth: np.ndarray, *, threshold: float = 0.5
) -> dict[str, Overlap]:
    """Fuzzy and thresholded overlap of an explanation map with an expert mask.

    Args:
        explanation: Map in [0, 1] (NaN counts as 0).
        truth: Expert mask: boolean, or probabilities (e.g. the share of raters).
        threshold: Map value at which a pixel counts as explained.

    Returns:
        ``{"fuzzy": Overlap, "thresholded": Overlap}``; add them over mosaics to pool.

    """
    values = np.clip(np.nan_to_num(explanation, nan=0.0), 0, 1)
    return {
        "fuzzy": overlap(values, truth),
        "thresholded": overlap(values >= threshold, truth),
    }


def faithfulness_summary(
    original: np.ndarray, top_blocked: np.ndarray, random_blocked: np.ndarray
) -> dict[str, Any]:
    """Score drops when the most explained pixels are blocked, against random pixels.

    Args:
        original: Suspicious probability of each explained tile.
        top_blocked: The same with the top explained pixels blocked.
        random_blocked: The same with as many random pixels blocked.

    Returns:
        Mean drops, their difference (positive: the explanation points at what the
        model uses), and the share of tiles where blocking the explained pixels
        hurt more than random blocking.

    """
    original = np.asarray(original, np.float64)
    top_drop = original - np.asarray(top_blocked, np.float64)
    random_drop = original - np.asarray(random_blocked, np.float64)
    if not len(original):
        return {"tiles": 0}
    return {
        "tiles": len(original),
        "mean_drop_explained": float(top_drop.mean()),
        "mean_drop_random": float(random_drop.mean()),
        "difference": float((top_drop - random_drop).mean()),
        "share_explained_worse": float(np.mean(top_drop > random_drop)),
    }
