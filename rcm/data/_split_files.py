"""Split files: a CSV (one row per item) and its JSON sidecar, written and read back checked.

The sidecar holds the seed, the fractions, the source table's checksum and a
summary, so every later step can say which split it used; a sidecar that
describes another version of the CSV is refused.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from rcm.data._problems import listing
from rcm.data._split_model import Split
from rcm.data._table import read_csv_table
from rcm.errors import InputError

SPLIT_COLUMNS = ("item_id", "patient_id", "category", "split")
SIDECAR_VERSION = 1  # the sidecar's schema_version (rcm 0.1.0 wrote none: version 0)


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
    from rcm.io import atomic_output, check_output, document_text, file_checksum

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
        if split.category_separator is not None:  # photo splits only: tables stay as they were
            document["category_separator"] = split.category_separator
        # The sidecar lands first: a split CSV that exists always has its description.
        with atomic_output(sidecar, overwrite=overwrite) as sidecar_partial:
            sidecar_partial.write_text(document_text(document, SIDECAR_VERSION) + "\n")
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
        raise InputError(path, listing(repeated))
    fractions, seed, separator = _read_sidecar(path)
    try:
        return Split(
            assignment={row["item_id"]: row["split"] for row in rows},
            patient_of={row["item_id"]: row["patient_id"] for row in rows},
            category_of={row["item_id"]: row["category"] for row in rows},
            fractions=fractions,
            seed=seed,
            category_separator=separator,
        )
    except InputError as error:  # name the file in the one-line message
        raise InputError(path, error.reason) from None


def _read_sidecar(
    path: str | os.PathLike[str],
) -> tuple[tuple[tuple[str, float], ...] | None, int | None, str | None]:
    """(fractions, seed, category separator) from the sidecar, all None when there is none."""
    from rcm.io import file_checksum, read_document

    sidecar = Path(path).with_suffix(".json")
    if Path(path).suffix.lower() == ".json" or not sidecar.is_file():
        return None, None, None
    document, _ = read_document(sidecar, "split description", SIDECAR_VERSION)
    try:  # version 0 (rcm 0.1.0) has the same fields
        recorded = document["split_checksum"]
        pairs = document["fractions"]
        fractions = None if pairs is None else tuple((str(n), float(f)) for n, f in pairs)
        seed = document["seed"]
        if seed is not None and not isinstance(seed, int):
            raise TypeError(f"seed {seed!r} is not an integer")
        separator = document.get("category_separator")  # absent before photo splits
        if separator is not None and (not isinstance(separator, str) or not separator):
            raise TypeError(f"category_separator {separator!r} is not a non-empty string")
    except (ValueError, KeyError, TypeError) as error:
        raise InputError(sidecar, f"not a split description ({error})") from error
    if recorded != file_checksum(path):
        raise InputError(
            sidecar,
            f"describes another version of {Path(path).name} (checksums differ); "
            "re-run rcm data split, or delete the sidecar to use the CSV alone",
        )
    return fractions, seed, separator


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
            f"{listing(missing, ', ')} (was the split made from an older table?)",
        )
