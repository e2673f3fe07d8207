"""Train/validation/test splits grouped by patient, stratified by category, seeded.

A patient's items (mosaics, photographs) all go to one split, so no model is
evaluated on a patient it was trained on. Within that constraint each split's
category mix follows the whole cohort's. A split is written as a CSV (one row
per item) with a JSON sidecar holding the seed, the fractions, the source
table's checksum and a summary, so every later step can say which split it used.
"""

from __future__ import annotations

import csv
import json
import os
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from rcm.data._table import read_csv_table
from rcm.errors import InputError

DEFAULT_FRACTIONS: tuple[tuple[str, float], ...] = (
    ("train", 0.7),
    ("validation", 0.15),
    ("test", 0.15),
)
SPLIT_COLUMNS = ("item_id", "patient_id", "category", "split")
_FRACTION_TOLERANCE = 1e-6
_SHOWN = 5  # problems or ids named in one error message before "and N more"


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

    """

    assignment: Mapping[str, str]
    patient_of: Mapping[str, str]
    category_of: Mapping[str, str]
    fractions: tuple[tuple[str, float], ...] | None = None
    seed: int | None = None
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
            raise InputError(
                path, f"{_listing(leaks)} (a patient's items must all be in one split)"
            )

    def summary(self) -> dict[str, Any]:
        """Items, patients and category counts and shares, overall and per split.

        Returns:
            ``{"items", "patients", "categories", "splits"}``; ``categories`` maps
            each category to ``{"items", "share"}`` (share of the items), and
            ``splits`` maps each split name to the same keys plus ``share`` (of
            all items) and ``target_share`` (its fraction, or None when unknown).

        """
        categories = sorted(set(self.category_of.values()))
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
                "categories": _category_counts((self.category_of[i] for i in items), categories),
            }
        return {
            "items": total,
            "patients": len(set(self.patient_of.values())),
            "categories": _category_counts(self.category_of.values(), categories),
            "splits": splits,
        }


def split_by_patient(
    item_ids: Sequence[str],
    patient_ids: Sequence[str],
    categories: Sequence[str],
    *,
    fractions: Sequence[tuple[str, float]] = DEFAULT_FRACTIONS,
    seed: int = 0,
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

    Raises:
        InputError: If the sequences differ in length, ids repeat, the fractions
            are not positive or do not sum to 1, names repeat, the seed is
            negative, or there are fewer patients than splits.

    """
    fractions = _checked_fractions(fractions)
    _check_items(item_ids, patient_ids, categories)
    if seed < 0:
        raise InputError(None, f"the seed must be >= 0, got {seed}")
    cohort = _patients(item_ids, patient_ids, categories)
    if len(cohort) < len(fractions):
        raise InputError(
            None,
            f"{len(cohort)} patient(s) cannot fill {len(fractions)} splits "
            f"({', '.join(n for n, _ in fractions)}): every split needs at least one patient "
            "and no patient may be in two",
        )
    order = _patient_order(cohort, seed)
    split_of_patient = _assign(order, cohort, fractions)
    return Split(
        assignment={i: split_of_patient[p] for i, p in zip(item_ids, patient_ids, strict=True)},
        patient_of=dict(zip(item_ids, patient_ids, strict=True)),
        category_of=dict(zip(item_ids, categories, strict=True)),
        fractions=fractions,
        seed=seed,
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
        raise InputError(None, f"item id(s) given twice: {_listing(repeated, ', ')}")


def _patients(
    item_ids: Sequence[str], patient_ids: Sequence[str], categories: Sequence[str]
) -> dict[str, Counter[str]]:
    """Patient id -> how many of their items are in each category, sorted by patient id."""
    cohort: dict[str, Counter[str]] = defaultdict(Counter)
    for _, patient, category in sorted(zip(item_ids, patient_ids, categories, strict=True)):
        cohort[patient][category] += 1
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
) -> dict[str, str]:
    """Greedy stratified assignment of whole patients to splits.

    Not scikit-learn: `StratifiedGroupKFold` makes equal folds only (merging k
    of many folds needs fractions with a small common denominator and at least
    that many patients per category) and `GroupShuffleSplit` ignores categories.
    Giving the patient to the split with the largest deficit in the patient's
    categories is the choice that most reduces the squared distance of the
    counts from their targets.
    """
    totals: Counter[str] = Counter()
    for counts in cohort.values():
        totals.update(counts)
    targets = [{c: fraction * n for c, n in totals.items()} for _, fraction in fractions]
    filled: list[Counter[str]] = [Counter() for _ in fractions]
    patients_in = [0] * len(fractions)
    chosen: dict[str, str] = {}
    for position, patient in enumerate(order):
        counts = cohort[patient]
        empty = [s for s, n in enumerate(patients_in) if n == 0]
        candidates = empty if len(empty) >= len(order) - position else range(len(fractions))
        best = max(candidates, key=lambda s: _priority(counts, targets[s], filled[s], s))
        filled[best].update(counts)
        patients_in[best] += 1
        chosen[patient] = fractions[best][0]
    return chosen


def _priority(
    counts: Counter[str], target: Mapping[str, float], filled: Counter[str], index: int
) -> tuple[float, float, int]:
    """How much a split wants a patient: deficit in the patient's categories, then in size."""
    deficit = sum(n * (target[c] - filled[c]) for c, n in counts.items())
    size_deficit = sum(target.values()) - filled.total()
    return deficit, size_deficit, -index  # ties: the earlier split


def write_split(
    split: Split,
    path: str | os.PathLike[str],
    *,
    source: str | os.PathLike[str] | None = None,
    options: Mapping[str, Any] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write `split` as a CSV and its description as ``<path stem>.json``, each atomically.

    The CSV has columns item_id, patient_id, category, split, rows ordered by
    split then item. The sidecar holds the CSV's checksum (so a stale sidecar is
    noticed), the seed, the fractions, the source table's path and checksum,
    `options` (e.g. the columns used) and `split.summary()`.

    Args:
        split: The split to write.
        path: The CSV to write; must not end in ``.json``.
        source: The table the split was made from, recorded with its checksum.
        options: Extra settings to record (JSON-serialisable).
        overwrite: Replace existing files.

    Returns:
        The sidecar's path.

    Raises:
        OutputError: If a file exists (without `overwrite`) or cannot be written.
        InputError: If `path` ends in ``.json`` (the sidecar would replace it).

    """
    from rcm._version import __version__
    from rcm.io import file_checksum
    from rcm.io._atomic import atomic_output, check_output

    target = Path(path)
    if target.suffix.lower() == ".json":
        raise InputError(path, "a split file must not end in .json (its sidecar does)")
    sidecar = target.with_suffix(".json")
    check_output(sidecar, overwrite=overwrite)  # before writing anything
    with atomic_output(target, overwrite=overwrite) as partial:
        _write_rows(split, partial)
        document = {
            "split_file": target.name,
            "split_checksum": file_checksum(partial),
            "seed": split.seed,
            "fractions": [list(pair) for pair in split.fractions or ()] or None,
            "source": None
            if source is None
            else {"path": os.fspath(source), "checksum": file_checksum(source)},
            "options": dict(options or {}),
            "summary": split.summary(),
            "versions": {"rcm": __version__},
        }
        # The sidecar lands first: a split CSV that exists always has its description.
        with atomic_output(sidecar, overwrite=overwrite) as sidecar_partial:
            sidecar_partial.write_text(json.dumps(document, indent=2) + "\n")
    return sidecar


def _write_rows(split: Split, path: Path) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(SPLIT_COLUMNS)
        for name in split.names:
            for item in split.items(name):
                writer.writerow((item, split.patient_of[item], split.category_of[item], name))


def read_split(path: str | os.PathLike[str]) -> Split:
    """Read a split CSV and, when present, its ``<stem>.json`` sidecar.

    Raises:
        InputError: If a column is missing or empty, an item is listed twice, a
            patient is in two splits (naming the patient and the splits), or the
            sidecar is unreadable or describes another version of the file.

    """
    rows = read_csv_table(path, SPLIT_COLUMNS, "split file")
    first_line: dict[str, int] = {}
    repeated = []
    for number, row in enumerate(rows, start=2):
        item = row["item_id"]
        if item in first_line:
            repeated.append(f"line {number}: item {item} is also on line {first_line[item]}")
        first_line.setdefault(item, number)
    if repeated:
        raise InputError(path, _listing(repeated))
    fractions, seed = _read_sidecar(path)
    try:
        return Split(
            assignment={row["item_id"]: row["split"] for row in rows},
            patient_of={row["item_id"]: row["patient_id"] for row in rows},
            category_of={row["item_id"]: row["category"] for row in rows},
            fractions=fractions,
            seed=seed,
        )
    except InputError as error:  # name the file in the one-line message
        raise InputError(path, error.reason) from None


def _read_sidecar(
    path: str | os.PathLike[str],
) -> tuple[tuple[tuple[str, float], ...] | None, int | None]:
    """(fractions, seed) from the sidecar, or (None, None) when there is none."""
    from rcm.io import file_checksum

    sidecar = Path(path).with_suffix(".json")
    if Path(path).suffix.lower() == ".json" or not sidecar.is_file():
        return None, None
    try:
        document = json.loads(sidecar.read_text())
        recorded = document["split_checksum"]
        pairs = document["fractions"]
        fractions = None if pairs is None else tuple((str(n), float(f)) for n, f in pairs)
        seed = document["seed"]
        if seed is not None and not isinstance(seed, int):
            raise TypeError(f"seed {seed!r} is not an integer")
    except OSError as error:
        raise InputError(sidecar, f"cannot read: {error.strerror or error}") from error
    except (ValueError, KeyError, TypeError) as error:
        raise InputError(sidecar, f"not a split description ({error})") from error
    if recorded != file_checksum(path):
        raise InputError(
            sidecar,
            f"describes another version of {Path(path).name} (checksums differ); "
            "re-run rcm data split, or delete the sidecar to use the CSV alone",
        )
    return fractions, seed


def check_split_covers(
    split: Split, item_ids: Iterable[str], path: str | os.PathLike[str] | None = None
) -> None:
    """Raise unless every item of a dataset has a split.

    Args:
        split: The split read from `path`.
        item_ids: The dataset's item ids.
        path: The split file, named in the error.

    Raises:
        InputError: Listing the items that are missing from the split.

    """
    missing = sorted(set(item_ids) - set(split.assignment))
    if missing:
        raise InputError(
            path,
            f"{len(missing)} item(s) of the dataset are not in the split: "
            f"{_listing(missing, ', ')} (was the split made from an older table?)",
        )


def _category_counts(values: Iterable[str], categories: Sequence[str]) -> dict[str, Any]:
    counts = Counter(values)
    total = counts.total()
    return {c: {"items": counts[c], "share": _share(counts[c], total)} for c in categories}


def _share(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def _listing(values: Sequence[str], separator: str = "; ") -> str:
    shown = separator.join(values[:_SHOWN])
    return shown + (f"{separator}and {len(values) - _SHOWN} more" if len(values) > _SHOWN else "")


def _fraction_text(pairs: Sequence[tuple[str, float]]) -> str:
    return ", ".join(f"{name} {value:g}" for name, value in pairs)
