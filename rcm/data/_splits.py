"""Train/validation/test splits grouped by patient, stratified by category, seeded.

A patient's items (mosaics, photographs) all go to one split, so no model is
evaluated on a patient it was trained on. Within that constraint each split's
category mix follows the whole cohort's. The split itself is `Split`
(`rcm.data._split_model`); its files are written and read by
`rcm.data._split_files`.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence

import numpy as np

from rcm.data._problems import listing
from rcm.data._split_files import SPLIT_COLUMNS, check_split_covers, read_split, write_split
from rcm.data._split_model import Split
from rcm.errors import InputError

__all__ = [
    "DEFAULT_FRACTIONS",
    "SPLIT_COLUMNS",
    "Split",
    "check_split_covers",
    "read_split",
    "split_by_patient",
    "write_split",
]

DEFAULT_FRACTIONS: tuple[tuple[str, float], ...] = (
    ("train", 0.7),
    ("validation", 0.15),
    ("test", 0.15),
)
_FRACTION_TOLERANCE = 1e-6


def split_by_patient(
    item_ids: Sequence[str],
    patient_ids: Sequence[str],
    categories: Sequence[str],
    *,
    fractions: Sequence[tuple[str, float]] = DEFAULT_FRACTIONS,
    seed: int = 0,
    category_separator: str | None = None,
) -> Split:
    """Split items into named parts so that no patient is in two, stratified by category.

    Patients are sorted by id, shuffled with `seed`, then taken largest first
    (most items; the shuffle orders patients of equal size) and each goes to the
    split whose category counts are furthest below their targets (fraction x
    the cohort's count of each category) in the patient's own categories; ties
    go to the split furthest below its total size, then to the earlier split.
    Once as many patients remain as splits are still empty, they fill those, so
    every split gets at least one patient.

    Args:
        item_ids: One id per item; unique.
        patient_ids: The patient of each item.
        categories: The category of each item (use one value for all to not stratify).
        fractions: (split name, fraction) pairs; positive, summing to 1.
        seed: Seed of the shuffle (>= 0). The same seed gives the same split
            whatever the order of the inputs.
        category_separator: When set, an item's category may list several
            categories joined by it, and the item counts for each of them
            (in the stratification and in the patient's size).

    Raises:
        InputError: If the sequences differ in length, ids repeat, the fractions
            are not positive or do not sum to 1, names repeat, the seed is
            negative, or there are fewer patients than splits.

    """
    fractions = _checked_fractions(fractions)
    _check_items(item_ids, patient_ids, categories)
    if seed < 0:
        raise InputError(None, f"the seed must be >= 0, got {seed}")
    cohort = _patients(item_ids, patient_ids, categories, category_separator)
    if len(cohort) < len(fractions):
        raise InputError(
            None,
            f"{len(cohort)} patient(s) cannot fill {len(fractions)} splits "
            f"({', '.join(n for n, _ in fractions)}): every split needs at least one patient "
            "and no patient may be in two",
        )
    order = _patient_order(cohort, seed)
    split_of_patient = _assign(order, cohort, fractions, shares=category_separator is not None)
    return Split(
        assignment={i: split_of_patient[p] for i, p in zip(item_ids, patient_ids, strict=True)},
        patient_of=dict(zip(item_ids, patient_ids, strict=True)),
        category_of=dict(zip(item_ids, categories, strict=True)),
        fractions=fractions,
        seed=seed,
        category_separator=category_separator,
    )


def _checked_fractions(fractions: Sequence[tuple[str, float]]) -> tuple[tuple[str, float], ...]:
    pairs = tuple((str(name), float(value)) for name, value in fractions)
    names = [name for name, _ in pairs]
    if not pairs:
        raise InputError(None, "no splits were asked for")
    if any(not name for name in names):
        raise InputError(None, "split names must not be empty")
    repeated = sorted(name for name, count in Counter(names).items() if count > 1)
    if repeated:
        raise InputError(None, f"split name(s) {', '.join(repeated)} given twice")
    if any(not value > 0 for _, value in pairs):  # `not >` also rejects NaN
        raise InputError(None, f"fractions must be positive, got {_fraction_text(pairs)}")
    if abs(sum(value for _, value in pairs) - 1) > _FRACTION_TOLERANCE:
        raise InputError(None, f"fractions must sum to 1, got {_fraction_text(pairs)}")
    return pairs


def _check_items(
    item_ids: Sequence[str], patient_ids: Sequence[str], categories: Sequence[str]
) -> None:
    if not len(item_ids) == len(patient_ids) == len(categories):
        raise InputError(
            None,
            f"{len(item_ids)} item ids, {len(patient_ids)} patient ids and "
            f"{len(categories)} categories: need one of each per item",
        )
    repeated = sorted(item for item, count in Counter(item_ids).items() if count > 1)
    if repeated:
        raise InputError(None, f"item id(s) given twice: {listing(repeated, ', ')}")


def _patients(
    item_ids: Sequence[str],
    patient_ids: Sequence[str],
    categories: Sequence[str],
    separator: str | None,
) -> dict[str, Counter[str]]:
    """Patient id -> how many of their items are in each category, sorted by patient id."""
    cohort: dict[str, Counter[str]] = defaultdict(Counter)
    for _, patient, category in sorted(zip(item_ids, patient_ids, categories, strict=True)):
        cohort[patient].update(category.split(separator) if separator else [category])
    return dict(sorted(cohort.items()))


def _patient_order(cohort: Mapping[str, Counter[str]], seed: int) -> list[str]:
    """Largest patients first, so the small ones can even out the counts at the end."""
    patients = list(cohort)  # sorted by id: the order of the inputs cannot matter
    shuffled = [patients[i] for i in np.random.default_rng(seed).permutation(len(patients))]
    return sorted(shuffled, key=lambda p: -cohort[p].total())  # stable: keeps the shuffle


def _assign(
    order: Sequence[str],
    cohort: Mapping[str, Counter[str]],
    fractions: Sequence[tuple[str, float]],
    *,
    shares: bool = False,
) -> dict[str, str]:
    """Greedy stratified assignment of whole patients to splits.

    Not scikit-learn: `StratifiedGroupKFold` makes equal folds only (merging k
    of many folds needs fractions with a small common denominator and at least
    that many patients per category) and `GroupShuffleSplit` ignores categories.
    Giving the patient to the split with the largest deficit in the patient's
    categories is the choice that most reduces the squared distance of the
    counts from their targets.

    With `shares` (items of several categories each), the distance is that of
    each category's shares instead of its counts, so each deficit is divided by
    the square of the category's size: otherwise the common categories an item
    carries would pull it, and the rare ones with it, into the largest split.
    """
    totals: Counter[str] = Counter()
    for counts in cohort.values():
        totals.update(counts)
    weights = {c: 1 / n**2 if shares else 1.0 for c, n in totals.items()}
    targets = [{c: fraction * n for c, n in totals.items()} for _, fraction in fractions]
    filled: list[Counter[str]] = [Counter() for _ in fractions]
    patients_in = [0] * len(fractions)
    chosen: dict[str, str] = {}
    for position, patient in enumerate(order):
        counts = cohort[patient]
        empty = [s for s, n in enumerate(patients_in) if n == 0]
        candidates = empty if len(empty) >= len(order) - position else range(len(fractions))
        best = max(candidates, key=lambda s: _priority(counts, targets[s], filled[s], s, weights))
        filled[best].update(counts)
        patients_in[best] += 1
        chosen[patient] = fractions[best][0]
    return chosen


def _priority(
    counts: Counter[str],
    target: Mapping[str, float],
    filled: Counter[str],
    index: int,
    weights: Mapping[str, float],
) -> tuple[float, float, int]:
    """How much a split wants a patient: deficit in the patient's categories, then in size."""
    deficit = sum(n * weights[c] * (target[c] - filled[c]) for c, n in counts.items())
    size_deficit = sum(target.values()) - filled.total()
    return deficit, size_deficit, -index  # ties: the earlier split


def _fraction_text(pairs: Sequence[tuple[str, float]]) -> str:
    return ", ".join(f"{name} {value:g}" for name, value in pairs)
