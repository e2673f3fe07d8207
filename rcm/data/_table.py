"""CSV tables (manifests, label lists) read with every problem named."""

from __future__ import annotations

import csv
import os

from rcm.errors import InputError


def read_csv_table(
    path: str | os.PathLike[str],
    columns: tuple[str, ...],
    what: str = "manifest",
) -> list[dict[str, str]]:
    """The rows of a CSV file as stripped strings; the `columns` must exist and be non-empty.

    A UTF-8 byte-order mark (spreadsheets write one) is not part of the first column's name.

    Raises:
        InputError: If the file is unreadable, not CSV, lacks a column, has no rows,
            or a row leaves a required column empty (the line is named).

    """
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in columns if c not in (reader.fieldnames or [])]
            if missing:
                raise InputError(
                    path,
                    f"{what} lacks column(s) {', '.join(missing)} (needs {', '.join(columns)})",
                )
            rows = [
                {key: (value or "").strip() for key, value in row.items() if key} for row in reader
            ]
    except OSError as error:
        raise InputError(path, f"cannot read {what}: {error.strerror or error}") from error
    except (csv.Error, UnicodeDecodeError) as error:
        raise InputError(path, f"not a readable CSV {what} ({error})") from error
    if not rows:
        raise InputError(path, f"{what} has no rows")
    for number, row in enumerate(rows, start=2):
        empty = [c for c in columns if not row.get(c)]
        if empty:
            raise InputError(path, f"line {number}: empty {', '.join(empty)}")
    return rows
