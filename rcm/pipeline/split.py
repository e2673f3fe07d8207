"""The split stage: a table's items, or a photo set's photos, to train / validation / test.

`rcm data split` and the demo call `split_table` (a CSV table) or
`split_photos` (a COCO file or a VOC folder); the split algorithm itself is
`rcm.data.split_by_patient`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from rcm.data import (
    DEFAULT_FRACTIONS,
    PhotoDataset,
    PhotoProblem,
    Split,
    listing,
    read_csv_table,
    read_photo_source,
    split_by_patient,
    write_split,
)
from rcm.errors import InputError

ID_COLUMNS = ("mosaic_id", "image_id")  # the default: a training manifest, else photos
STRATIFY_COLUMNS = ("diagnosis", "label")
UNSTRATIFIED = "all"  # the one category of every item when not stratifying
PHOTO_CATEGORY_SEPARATOR = ";"  # a photo's categories in the split file: "melanoma;nevus"
NO_BOXES = "none"  # the stratum of photos without lesion boxes


@dataclass(frozen=True)
class SplitOptions:
    """Which columns name items, patients and categories, and the shares wanted.

    Attributes:
        fractions: (split name, share) pairs, the shares summing to 1.
        seed: Seed of the patients' shuffle.
        id_column: Column naming an item; None takes the first of `ID_COLUMNS` present.
        patient_column: Column naming the patient.
        stratify: Stratify by category at all.
        stratify_column: The category column; None takes `STRATIFY_COLUMNS` in order,
            the first non-empty one of a row winning.

    """

    fractions: tuple[tuple[str, float], ...] = DEFAULT_FRACTIONS
    seed: int = 0
    id_column: str | None = None
    patient_column: str = "patient_id"
    stratify: bool = True
    stratify_column: str | None = None


@dataclass(frozen=True)
class SplitOutcome:
    """The split, the two files written (the CSV and its JSON description), and any warnings."""

    split: Split
    table: Path
    sidecar: Path
    problems: tuple[PhotoProblem, ...] = ()  # a photo set's warnings (clipped boxes, EXIF)


def split_table(
    table: str | os.PathLike[str],
    out: str | os.PathLike[str],
    options: SplitOptions | None = None,
    *,
    overwrite: bool = False,
) -> SplitOutcome:
    """Split the items of a CSV table by patient and write the split files.

    Raises:
        InputError: Naming the table and its bad rows, or a missing column.

    """
    options = options or SplitOptions()
    path = os.fspath(table)
    rows = read_csv_table(table, (options.patient_column,), "table")
    header = list(rows[0])
    id_column = _id_column(options.id_column, header, path)
    stratify = _stratify_columns(options, header, path)
    items, patients, categories = _items(rows, id_column, options.patient_column, stratify, path)
    split = split_by_patient(
        items, patients, categories, fractions=list(options.fractions), seed=options.seed
    )
    recorded = {
        "id_column": id_column,
        "patient_column": options.patient_column,
        "stratify_columns": list(stratify),
    }
    sidecar = write_split(split, out, source=table, options=recorded, overwrite=overwrite)
    return SplitOutcome(split, Path(out), Path(sidecar))


def split_photos(
    source: str | os.PathLike[str],
    out: str | os.PathLike[str],
    options: SplitOptions | None = None,
    *,
    images_root: str | os.PathLike[str] | None = None,
    patients: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
) -> SplitOutcome:
    """Split a photo set (COCO file or VOC folder) by patient and write the split files.

    Items are the photos' image paths (`rcm.data.PhotoRecord.image`), patients
    their patient ids. Stratified by the categories of each photo's boxes (crowd
    boxes too): a photo with boxes of several categories counts for each (its
    category in the split file is them joined by ``;``), a photo without boxes
    is in the ``none`` stratum. Only `options.fractions`, `options.seed` and
    `options.stratify` apply (the column options are for tables).

    Args:
        source: A COCO instances file or a Pascal VOC folder.
        out: The split CSV to write (its sidecar is ``<stem>.json``).
        options: Fractions, seed, whether to stratify.
        images_root: See `rcm.data.read_photo_source`.
        patients: A patients table for files without patient ids (see
            `rcm.data.read_photo_source`).
        overwrite: Replace existing split files.

    Raises:
        InputError: Naming the source and its problems, or a category name
            holding ``;``.
        OutputError: If a split file exists (checked before the photos are read).

    """
    from rcm.io import check_output

    options = options or SplitOptions()
    for path in (Path(out), Path(out).with_suffix(".json")):
        check_output(path, overwrite=overwrite)  # before opening thousands of photos
    photos = read_photo_source(source, images_root, patients)
    items, patient_ids, categories = _photo_items(photos.dataset, options.stratify, photos.path)
    split = split_by_patient(
        items,
        patient_ids,
        categories,
        fractions=list(options.fractions),
        seed=options.seed,
        category_separator=PHOTO_CATEGORY_SEPARATOR if options.stratify else None,
    )
    recorded = {
        "kind": photos.kind,
        "images_root": str(photos.images_root),
        "patients": None if patients is None else os.fspath(patients),
        "stratify": "box categories per photo" if options.stratify else None,
        "warnings": len(photos.problems),
    }
    # A VOC folder's photos may sit inside it: the checksum covers its annotations only.
    annotations = photos.path / "Annotations" if photos.kind == "voc" else photos.path
    sidecar = write_split(split, out, source=annotations, options=recorded, overwrite=overwrite)
    return SplitOutcome(split, Path(out), Path(sidecar), photos.problems)


def _photo_items(
    dataset: PhotoDataset, stratify: bool, source: Path
) -> tuple[list[str], list[str], list[str]]:
    """(image paths, patients, categories): each photo's box categories in dataset order."""
    joined = [c for c in dataset.categories if PHOTO_CATEGORY_SEPARATOR in c]
    if stratify and joined:
        raise InputError(
            source,
            f"category name(s) {', '.join(joined)} hold {PHOTO_CATEGORY_SEPARATOR!r}, which "
            "joins a photo's categories in the split file: rename them, or split unstratified",
        )
    order = {name: number for number, name in enumerate(dataset.categories)}
    categories = []
    for record in dataset.images:
        found = sorted({box.category for box in record.boxes}, key=order.__getitem__)
        value = PHOTO_CATEGORY_SEPARATOR.join(found) or NO_BOXES
        categories.append(value if stratify else UNSTRATIFIED)
    items = [record.image for record in dataset.images]
    return items, [record.patient_id for record in dataset.images], categories


def _id_column(chosen: str | None, header: Sequence[str], table: str) -> str:
    if chosen is not None:
        if chosen not in header:
            raise InputError(table, f"table lacks the --id-column {chosen}")
        return chosen
    for column in ID_COLUMNS:
        if column in header:
            return column
    raise InputError(
        table, f"table has none of {', '.join(ID_COLUMNS)}: name its id column with --id-column"
    )


def _stratify_columns(options: SplitOptions, header: Sequence[str], table: str) -> tuple[str, ...]:
    """The columns a row's category comes from, the first non-empty one winning."""
    if not options.stratify:
        return ()
    if options.stratify_column is not None:
        if options.stratify_column not in header:
            raise InputError(table, f"table lacks the --stratify-column {options.stratify_column}")
        return (options.stratify_column,)
    # A manifest's diagnosis is optional per row; where it is empty the label stands in.
    return tuple(column for column in STRATIFY_COLUMNS if column in header)


def _items(
    rows: Sequence[Mapping[str, str]],
    id_column: str,
    patient_column: str,
    stratify: Sequence[str],
    table: str,
) -> tuple[list[str], list[str], list[str]]:
    """(item ids, patients, categories), one per item; repeated rows of an item must agree."""
    seen: dict[str, tuple[str, str, int]] = {}
    problems = []
    for number, row in enumerate(rows, start=2):
        item = row[id_column]
        category = next((row[c] for c in stratify if row.get(c)), "" if stratify else UNSTRATIFIED)
        if not item or not category:
            empty = id_column if not item else " and ".join(stratify)
            problems.append(f"line {number}: empty {empty}")
            continue
        patient = row[patient_column]
        if item not in seen:
            seen[item] = (patient, category, number)
            continue
        first_patient, first_category, first = seen[item]
        if (patient, category) != (first_patient, first_category):
            problems.append(
                f"line {number}: {item} has patient {patient}, category {category} but line "
                f"{first} has patient {first_patient}, category {first_category}"
            )
    if problems:
        raise InputError(table, listing(problems))
    ids = list(seen)
    return ids, [seen[i][0] for i in ids], [seen[i][1] for i in ids]
