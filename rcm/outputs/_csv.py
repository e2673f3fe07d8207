"""Reading and writing the CSV tables of an output folder, problems named by file and line."""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from rcm.errors import OutputFormatError


def write_rows(path: str | os.PathLike[str], header: Sequence[str], rows: Iterable[list]) -> None:
    """Write a header and rows (into a folder that is itself written atomically)."""
    with Path(path).open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def number_cell(value: float, digits: str = ".7g") -> str:
    """A number as the tables write it; NaN (not measured) is an empty cell."""
    return "" if np.isnan(value) else f"{value:{digits}}"


class Columns:
    """The columns of a CSV table read whole, each parsed with its type.

    Args:
        path: The file.
        kind: What it is, for messages.
        required: Columns that must be present.

    Raises:
        OutputFormatError: If the file cannot be read or lacks a required column.

    """

    def __init__(self, path: str | os.PathLike[str], kind: str, required: Sequence[str]) -> None:
        self.path, self.kind = path, kind
        try:
            with Path(path).open(newline="", encoding="utf-8-sig") as handle:
                reader = csv.reader(handle)
                self.header = next(reader, [])
                self.rows = list(reader)
        except (OSError, UnicodeDecodeError, csv.Error) as error:
            raise OutputFormatError(path, f"cannot read {kind} ({error})") from error
        missing = [name for name in required if name not in self.header]
        if missing:
            raise OutputFormatError(path, f"{kind} lacks column {', '.join(missing)}")
        for line, row in enumerate(self.rows, start=2):
            if len(row) != len(self.header):
                raise OutputFormatError(
                    path, f"{kind} line {line} has {len(row)} cells, the header {len(self.header)}"
                )

    def error(self, reason: str) -> OutputFormatError:
        """The error naming this file and `reason`."""
        return OutputFormatError(self.path, f"{self.kind}: {reason}")

    def require_sequence(self, name: str) -> None:
        """Refuse a table whose `name` column is not 0, 1, 2... (the row's grid index)."""
        numbers = self.integers(name)[:, 0]
        if not np.array_equal(numbers, np.arange(len(numbers))):
            raise self.error(f"column {name} is not 0, 1, 2...")

    def _cells(self, column: str | int) -> list[str]:
        index = column if isinstance(column, int) else self.header.index(column)
        return [row[index] for row in self.rows]

    def _bad(self, column: str | int, line: int, cell: str, expected: str) -> OutputFormatError:
        name = self.header[column] if isinstance(column, int) else column
        return OutputFormatError(
            self.path, f"{self.kind} line {line}, column {name}: {cell!r} is not {expected}"
        )

    def integers(self, *names: str | int) -> np.ndarray:
        """Integer columns side by side, ``(rows, len(names))`` int64 (names or positions)."""
        values = np.zeros((len(self.rows), len(names)), np.int64)
        for column, name in enumerate(names):
            for line, cell in enumerate(self._cells(name), start=2):
                try:
                    values[line - 2, column] = int(cell)
                except ValueError:
                    raise self._bad(name, line, cell, "an integer") from None
        return values

    def numbers(self, *names: str | int) -> np.ndarray:
        """Number columns side by side, ``(rows, len(names))`` float64; empty cells are NaN.

        A column is named, or given by position where names repeat (a class
        called ``suspicious`` has a ``p_suspicious`` column before the sum's).
        """
        values = np.full((len(self.rows), len(names)), np.nan)
        for column, name in enumerate(names):
            for line, cell in enumerate(self._cells(name), start=2):
                if not cell:
                    continue
                try:
                    values[line - 2, column] = float(cell)
                except ValueError:
                    raise self._bad(name, line, cell, "a number") from None
        return values
