"""Synthetic clinicians' reads of the synthetic photographs (the reads file's category form).

Each reader finds each lesion with their sensitivity; a lesion found is called
its true category with the reader's accuracy times the category's ease, and
otherwise mostly one of the categories it resembles (`LOOKALIKES`: naevus for
melanoma, Bowen's disease for actinic keratosis, ...). On a lesion-free
photograph a reader calls a lesion with probability one minus their
specificity. Confidence is higher for right calls and for better readers.
One row per reader, photograph and called category; a photograph called
lesion-free has one row with an empty category.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rcm.data._synth_photo_looks import LOOKS, PHOTO_CATEGORIES

READS_COLUMNS = ("reader", "image", "category", "confidence")
_LOOKALIKE_SHARE = 0.85  # of wrong calls; the rest go to any other category


@dataclass(frozen=True)
class Reader:
    """One synthetic clinician.

    Attributes:
        name: The reader's id in the reads file.
        sensitivity: Chance of noticing a lesion.
        accuracy: Chance of naming a noticed lesion right (times the category's ease).
        specificity: Chance of calling a lesion-free photograph lesion-free.
        skill: 0..1; raises confidence in right calls.

    """

    name: str
    sensitivity: float
    accuracy: float
    specificity: float
    skill: float


READERS: tuple[Reader, ...] = (
    Reader("senior_dermatologist_1", 0.97, 0.90, 0.93, 0.95),
    Reader("senior_dermatologist_2", 0.95, 0.86, 0.95, 0.85),
    Reader("junior_dermatologist", 0.90, 0.70, 0.86, 0.55),
    Reader("general_practitioner", 0.84, 0.52, 0.80, 0.3),
)

# How easy each category is to name (a factor on accuracy).
EASE: dict[str, float] = {
    "melanoma": 0.95,
    "lentigo_maligna": 0.75,
    "basal_cell_carcinoma": 1.05,
    "squamous_cell_carcinoma": 0.9,
    "bowen_disease": 0.85,
    "actinic_keratosis": 0.85,
    "seborrheic_keratosis": 1.0,
    "lichen_planus_like_keratosis": 0.7,
    "solar_lentigo": 0.9,
    "melanocytic_nevus": 1.08,
    "dermatofibroma": 1.0,
    "sebaceous_hyperplasia": 0.9,
    "vascular_lesion": 1.08,
}

# Which categories each one is mistaken for.
LOOKALIKES: dict[str, tuple[str, ...]] = {
    "melanoma": ("melanocytic_nevus", "lentigo_maligna", "seborrheic_keratosis"),
    "lentigo_maligna": ("solar_lentigo", "melanoma", "lichen_planus_like_keratosis"),
    "basal_cell_carcinoma": ("sebaceous_hyperplasia", "squamous_cell_carcinoma", "dermatofibroma"),
    "squamous_cell_carcinoma": ("bowen_disease", "actinic_keratosis", "basal_cell_carcinoma"),
    "bowen_disease": ("actinic_keratosis", "squamous_cell_carcinoma"),
    "actinic_keratosis": ("bowen_disease", "squamous_cell_carcinoma"),
    "seborrheic_keratosis": ("lichen_planus_like_keratosis", "solar_lentigo", "melanoma"),
    "lichen_planus_like_keratosis": ("seborrheic_keratosis", "lentigo_maligna", "bowen_disease"),
    "solar_lentigo": ("seborrheic_keratosis", "lentigo_maligna"),
    "melanocytic_nevus": ("melanoma", "dermatofibroma", "seborrheic_keratosis"),
    "dermatofibroma": ("melanocytic_nevus", "basal_cell_carcinoma"),
    "sebaceous_hyperplasia": ("basal_cell_carcinoma",),
    "vascular_lesion": ("melanoma", "basal_cell_carcinoma"),
}


def synthetic_reads(
    truth: Sequence[tuple[str, tuple[int, ...]]], seed: int
) -> list[tuple[str, str, str, str]]:
    """Every reader's calls on every photograph.

    Args:
        truth: ``(image path, true lesion categories)`` per photograph, in file order.
        seed: The set's seed (the reads have their own generator).

    Returns:
        Rows of `READS_COLUMNS` as text, by reader, then photograph, then category
        order (the empty category of a lesion-free call first).

    """
    rng = np.random.default_rng([seed, 2])
    frequency = np.array([look.frequency for look in LOOKS])
    frequency /= frequency.sum()
    rows = []
    for reader in READERS:
        for image, categories in truth:
            calls = _calls(reader, categories, frequency, rng)
            for category in sorted(calls, key=lambda c: -1 if c is None else c):
                name = "" if category is None else PHOTO_CATEGORIES[category]
                rows.append((reader.name, image, name, f"{calls[category]:.2f}"))
    return rows


def _calls(
    reader: Reader, categories: tuple[int, ...], frequency: np.ndarray, rng: np.random.Generator
) -> dict[int | None, float]:
    """One reader's calls on one photograph: category (None: lesion-free) -> confidence."""
    calls: dict[int | None, float] = {}
    for category in categories:
        if rng.random() >= reader.sensitivity:
            continue
        right = rng.random() < min(0.99, reader.accuracy * EASE[PHOTO_CATEGORIES[category]])
        called = category if right else _mistake(category, rng)
        mean = 0.55 + 0.35 * reader.skill if right else 0.35 + 0.15 * reader.skill
        confidence = float(np.clip(rng.normal(mean, 0.12), 0.05, 1.0))
        calls[called] = max(calls.get(called, 0.0), confidence)
    if not categories and rng.random() >= reader.specificity:
        called = int(rng.choice(len(PHOTO_CATEGORIES), p=frequency))
        calls[called] = float(np.clip(rng.normal(0.4, 0.15), 0.05, 1.0))
    if not calls:
        mean = 0.6 + 0.3 * reader.skill if not categories else 0.45
        calls[None] = float(np.clip(rng.normal(mean, 0.1), 0.05, 1.0))
    return calls


def _mistake(category: int, rng: np.random.Generator) -> int:
    """A wrong call for `category`: usually a lookalike, sometimes anything else."""
    lookalikes = LOOKALIKES[PHOTO_CATEGORIES[category]]
    if rng.random() < _LOOKALIKE_SHARE:
        return PHOTO_CATEGORIES.index(lookalikes[int(rng.integers(len(lookalikes)))])
    others = [k for k in range(len(PHOTO_CATEGORIES)) if k != category]
    return others[int(rng.integers(len(others)))]
