"""Metrics of a model that scores every image for each of several categories.

Truth is an ``(images, categories)`` boolean table (multi-label: an image may
show several categories, or none), scores an ``(images, categories)`` table of
probabilities. Point estimates are scikit-learn's; intervals come from the
patient bootstrap as weights (`PatientBootstrap`), vectorised over resamples
and categories.

- AUROC of each category against the rest (one-vs-rest), their unweighted mean
  (macro, over the categories that have both classes) and the AUROC of all
  (image, category) pairs pooled (micro, as scikit-learn's ``average="micro"``).
  A resample in which a category has one class only gives that category no
  value, and gives the macro mean none either (it would average other categories).
- Top-k accuracy of single-category images, and rates at fixed thresholds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.metrics import roc_auc_score

from rcm.metrics._bootstrap import Interval
from rcm.metrics._patient_weights import PatientBootstrap


@dataclass(frozen=True)
class CategoryAurocs:
    """AUROC per category, macro and micro, each with its patient-bootstrap interval.

    Attributes:
        categories: Category names, in column order.
        per_category: One interval per category; None where the images hold
            one class only (no positives, or no negatives).
        macro: Mean of the defined categories' AUROCs; None when none is defined.
        micro: AUROC of every (image, category) pair pooled; None without both classes.

    """

    categories: tuple[str, ...]
    per_category: tuple[Interval | None, ...]
    macro: Interval | None
    micro: Interval | None

    def __post_init__(self) -> None:
        if len(self.per_category) != len(self.categories):
            raise ValueError("one interval (or None) per category")

    def by_name(self) -> dict[str, Interval | None]:
        """Per-category intervals by category name."""
        return dict(zip(self.categories, self.per_category, strict=True))


def check_table(truth: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Truth as bool and scores as float64, both ``(images, categories)``; NaN refused."""
    labels = np.asarray(truth).astype(bool)
    values = np.asarray(scores, dtype=np.float64)
    if labels.ndim != 2 or labels.shape != values.shape:
        raise ValueError("truth and scores must both be (images, categories)")
    if not np.isfinite(values).all():
        raise ValueError("scores must be finite (no NaN or infinity)")
    return labels, values


def _has_both(labels: np.ndarray) -> bool:
    return bool(labels.any()) and not bool(labels.all())


def category_aurocs(
    truth: np.ndarray,
    scores: np.ndarray,
    categories: tuple[str, ...],
    bootstrap: PatientBootstrap,
    *,
    level: float = 0.95,
) -> CategoryAurocs:
    """One-vs-rest AUROC of each category, macro and micro, with patient-bootstrap intervals.

    Args:
        truth: ``(images, categories)``: the image shows the category.
        scores: ``(images, categories)`` finite scores.
        categories: Names of the columns.
        bootstrap: The resamples (drawn over the images' patients).
        level: Coverage of the intervals.

    """
    labels, values = check_table(truth, scores)
    if labels.shape[1] != len(categories) or labels.shape[0] != len(bootstrap.patient):
        raise ValueError("one column per category and one row per bootstrap case")
    per_category: list[Interval | None] = []
    resampled = []
    for column in range(labels.shape[1]):
        if not _has_both(labels[:, column]):
            per_category.append(None)
            continue
        estimate = float(roc_auc_score(labels[:, column], values[:, column]))
        draws = bootstrap.aurocs(labels[:, column], values[:, column])
        resampled.append(draws)
        per_category.append(bootstrap.interval(estimate, draws, level))
    macro = None
    if resampled:
        estimate = float(np.mean([i.estimate for i in per_category if i is not None]))
        # NaN in any category makes the resample's mean NaN: it is skipped.
        macro = bootstrap.interval(estimate, np.mean(resampled, axis=0), level)
    micro = None
    if _has_both(labels):
        owners = np.repeat(bootstrap.patient, labels.shape[1])
        estimate = float(roc_auc_score(labels.ravel(), values.ravel()))
        draws = bootstrap.aurocs(labels.ravel(), values.ravel(), owners)
        micro = bootstrap.interval(estimate, draws, level)
    return CategoryAurocs(tuple(categories), tuple(per_category), macro, micro)


def top_k_hits(labels: np.ndarray, scores: np.ndarray, k: int) -> np.ndarray:
    """Whether each image's true class is among its `k` highest scores.

    Ties at the k-th score count as hits, as in scikit-learn's
    ``top_k_accuracy_score`` for distinct scores (no class is preferred).

    Args:
        labels: ``(images,)`` true class index.
        scores: ``(images, classes)`` scores.
        k: How many of the best classes count.

    """
    truth = np.asarray(labels, dtype=np.int64)
    values = np.asarray(scores, dtype=np.float64)
    if values.ndim != 2 or truth.shape != values.shape[:1]:
        raise ValueError("labels must be (images,) and scores (images, classes)")
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    own = values[np.arange(len(truth)), truth]
    higher = (values > own[:, None]).sum(axis=1)
    return higher < k


def ratio_intervals(
    bootstrap: PatientBootstrap,
    numerators: np.ndarray,
    denominators: np.ndarray,
    *,
    level: float = 0.95,
) -> list[Interval]:
    """Per column k, ``sum(numerators[:, k]) / sum(denominators[:, k])`` with its interval.

    Sensitivities (true positives over positives), specificities and accuracies
    of all categories come from one product of the resample counts. A resample
    whose denominator is zero gives no value (it is skipped).

    Args:
        bootstrap: The resamples.
        numerators: ``(cases, k)`` per-case numerators (e.g. 1 for a true positive).
        denominators: ``(cases, k)`` per-case denominators (e.g. 1 for a positive).
        level: Coverage of the intervals.

    """
    top = np.asarray(numerators, np.float64)
    bottom = np.asarray(denominators, np.float64)
    if top.ndim != 2 or top.shape != bottom.shape:
        raise ValueError("numerators and denominators must both be (cases, k)")
    sums = bootstrap.sums(np.concatenate([top, bottom], axis=1))
    width = top.shape[1]
    with np.errstate(invalid="ignore", divide="ignore"):
        draws = sums[:, :width] / sums[:, width:]
        estimates = top.sum(axis=0) / bottom.sum(axis=0)
    draws[sums[:, width:] <= 0] = np.nan
    return [bootstrap.interval(estimates[k], draws[:, k], level) for k in range(width)]
