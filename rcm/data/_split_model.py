"""`Split`: which split each item is in, checked on construction so it never leaks a patient.

A patient's items (mosaics, photographs) all go to one split, so no model is
evaluated on a patient it was trained on; `Split.summary` gives the counts and
category shares of each split.
"""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from rcm.data._problems import listing
from rcm.errors import InputError


@dataclass(frozen=True)
class Split:
    """Which split each item is in, with each item's patient and category.

    Construction checks that the three mappings cover the same items, that every
    split name is one of `fractions` (when given) and that no patient is in two
    splits, so a `Split` that exists never leaks.

    Attributes:
        assignment: item id -> split name.
        patient_of: item id -> patient id.
        category_of: item id -> category the split was stratified by.
        fractions: (split name, fraction) pairs in order, or None when unknown
            (a split file without its sidecar).
        seed: The seed the split was drawn with, or None when unknown.
        category_separator: When set, an item's category lists several categories
            joined by it (a photo with boxes of several categories), and the
            summary counts the item in each.

    """

    assignment: Mapping[str, str]
    patient_of: Mapping[str, str]
    category_of: Mapping[str, str]
    fractions: tuple[tuple[str, float], ...] | None = None
    seed: int | None = None
    category_separator: str | None = None
    _by_split: Mapping[str, tuple[str, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        items = sorted(self.assignment)
        if set(self.patient_of) != set(items) or set(self.category_of) != set(items):
            raise ValueError("assignment, patient_of and category_of must cover the same items")
        # Sorted, read-only copies: equal splits compare equal and nobody edits one in place.
        for name in ("assignment", "patient_of", "category_of"):
            mapping = getattr(self, name)
            object.__setattr__(self, name, MappingProxyType({i: mapping[i] for i in items}))
        if self.fractions is not None:
            object.__setattr__(self, "fractions", tuple((n, float(f)) for n, f in self.fractions))
            unknown = sorted(set(self.assignment.values()) - set(self.names))
            if unknown:
                raise InputError(
                    None,
                    f"split name(s) {', '.join(unknown)} are not among the fractions' "
                    f"names ({', '.join(self.names)})",
                )
        by_split: dict[str, list[str]] = {name: [] for name in self.names}
        for item in items:
            by_split[self.assignment[item]].append(item)
        object.__setattr__(self, "_by_split", {n: tuple(v) for n, v in by_split.items()})
        self.check()

    @property
    def names(self) -> tuple[str, ...]:
        """Split names: in the fractions' order, else sorted."""
        if self.fractions is not None:
            return tuple(name for name, _ in self.fractions)
        return tuple(sorted(set(self.assignment.values())))

    def items(self, name: str) -> tuple[str, ...]:
        """The sorted item ids in split `name`.

        Raises:
            InputError: If there is no split called `name`.

        """
        if name not in self._by_split:
            raise InputError(None, f"no split named {name!r} (splits: {', '.join(self.names)})")
        return self._by_split[name]

    def patients(self, name: str) -> tuple[str, ...]:
        """The sorted patient ids in split `name`.

        Raises:
            InputError: If there is no split called `name`.

        """
        return tuple(sorted({self.patient_of[item] for item in self.items(name)}))

    def check(self, path: str | os.PathLike[str] | None = None) -> None:
        """Raise if any patient has items in two splits.

        Args:
            path: The split file to name in the error, if any.

        Raises:
            InputError: Naming the patient(s) and the splits each is in.

        """
        splits_of: dict[str, set[str]] = defaultdict(set)
        for item, name in self.assignment.items():
            splits_of[self.patient_of[item]].add(name)
        leaks = [
            f"patient {patient} is in splits {', '.join(sorted(names))}"
            for patient, names in sorted(splits_of.items())
            if len(names) > 1
        ]
        if leaks:
            raise InputError(path, f"{listing(leaks)} (a patient's items must all be in one split)")

    def summary(self) -> dict[str, Any]:
        """Items, patients and category counts and shares, overall and per split.

        Returns:
            ``{"items", "patients", "categories", "splits"}``; ``categories`` maps
            each category to ``{"items", "share"}`` (share of the items), and
            ``splits`` maps each split name to the same keys plus ``share`` (of
            all items) and ``target_share`` (its fraction, or None when unknown).

        """
        categories = sorted(
            {c for value in self.category_of.values() for c in self.categories_in(value)}
        )
        targets = dict(self.fractions or ())
        total = len(self.assignment)
        splits = {}
        for name in self.names:
            items = self.items(name)
            splits[name] = {
                "items": len(items),
                "patients": len(self.patients(name)),
                "share": _share(len(items), total),
                "target_share": targets.get(name),
                "categories": self._category_counts(
                    [self.category_of[i] for i in items], categories
                ),
            }
        return {
            "items": total,
            "patients": len(set(self.patient_of.values())),
            "categories": self._category_counts(list(self.category_of.values()), categories),
            "splits": splits,
        }

    def categories_in(self, value: str) -> list[str]:
        """The categories an item's category value stands for (one unless a separator is set)."""
        return value.split(self.category_separator) if self.category_separator else [value]

    def _category_counts(self, values: Sequence[str], categories: Sequence[str]) -> dict[str, Any]:
        """Items in each category and their share of the items (an item may count for several)."""
        counts = Counter(c for value in values for c in self.categories_in(value))
        total = len(values)
        return {c: {"items": counts[c], "share": _share(counts[c], total)} for c in categories}


def _share(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0
