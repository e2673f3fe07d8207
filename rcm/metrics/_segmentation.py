"""Overlap metrics for masks: Dice and IoU (binary), and their fuzzy forms.

Counts accumulate, so a mosaic-sized mask can be scored chunk by chunk and
cohorts pooled by adding counts. The fuzzy forms compare probability maps
(e.g. the share of raters marking each pixel, or an explanation map) with
fuzzy-set operations: intersection is the pixel-wise minimum, size is the sum.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Overlap:
    """Sums over pixels: overlap, predicted, true and background agreement (fuzzy or 0/1).

    Attributes:
        intersection: Sum of min(prediction, truth).
        predicted: Sum of the prediction.
        true: Sum of the truth.
        true_negative: Sum of min(1 - prediction, 1 - truth).
        negative: Sum of 1 - truth.

    """

    intersection: float = 0.0
    predicted: float = 0.0
    true: float = 0.0
    true_negative: float = 0.0
    negative: float = 0.0

    def __add__(self, other: Overlap) -> Overlap:
        return Overlap(
            self.intersection + other.intersection,
            self.predicted + other.predicted,
            self.true + other.true,
            self.true_negative + other.true_negative,
            self.negative + other.negative,
        )

    @property
    def dice(self) -> float:
        """2 |P and T| / (|P| + |T|); 1 when both are empty."""
        total = self.predicted + self.true
        return 2 * self.intersection / total if total else 1.0

    @property
    def iou(self) -> float:
        """|P and T| / |P or T|; 1 when both are empty."""
        union = self.predicted + self.true - self.intersection
        return self.intersection / union if union else 1.0

    @property
    def sensitivity(self) -> float:
        return self.intersection / self.true if self.true else float("nan")

    @property
    def specificity(self) -> float:
        return self.true_negative / self.negative if self.negative else float("nan")

    def as_dict(self) -> dict[str, float]:
        return {
            "dice": self.dice,
            "iou": self.iou,
            "sensitivity": self.sensitivity,
            "specificity": self.specificity,
        }


def overlap(prediction: np.ndarray, truth: np.ndarray) -> Overlap:
    """Counts for one mask or chunk; booleans are binary, floats in [0, 1] are fuzzy."""
    if prediction.shape != truth.shape:
        raise ValueError(f"shapes differ: {prediction.shape} vs {truth.shape}")
    p = np.asarray(prediction, dtype=np.float64)
    t = np.asarray(truth, dtype=np.float64)
    if p.size and (p.min() < 0 or p.max() > 1 or t.min() < 0 or t.max() > 1):
        raise ValueError("masks must be boolean or probabilities in [0, 1]")
    return Overlap(
        intersection=float(np.minimum(p, t).sum()),
        predicted=float(p.sum()),
        true=float(t.sum()),
        true_negative=float(np.minimum(1 - p, 1 - t).sum()),
        negative=float((1 - t).sum()),
    )
