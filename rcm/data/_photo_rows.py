"""Photo table rows: the CSV read with line numbers, and each row's fields parsed and checked.

Every field that fails adds its own error and the others are still parsed, so
one pass names every problem of a row. Coordinates are parsed as decimals, so
later checks and clipping are exact.
"""

from __future__ import annotations

import csv
import difflib
import posixpath
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path, PurePosixPath
from typing import Any, TypeVar

from rcm.data._photo_dataset import (
    EXACT,
    MAX_AGE,
    PhotoColumns,
    PhotoProblem,
    check_text,
    decimal_number,
)
from rcm.errors import InputError

_T = TypeVar("_T")

# A box as written: x_min, y_min, x_max, y_max as exact decimals.
Box = tuple[Decimal, Decimal, Decimal, Decimal]


@dataclass(frozen=True)
class Row:
    """One parsed table row; fields that failed to parse are None and named in `problems`."""

    line: int
    image: str | None
    patient_id: str | None
    sex: str | None
    age: float | None
    category: str | None
    box: Box | None
    problems: tuple[PhotoProblem, ...] = ()

    @property
    def failed(self) -> bool:
        return has_error(self.problems)

    @property
    def identity(self) -> tuple[Any, ...]:
        """What two rows must share to be duplicates."""
        return (self.patient_id, self.sex, self.age, self.category, self.box)


def read_table(
    path: Path, columns: PhotoColumns
) -> tuple[list[tuple[int, dict[str, str]]], list[PhotoProblem]]:
    """Rows as stripped strings with their line numbers; rows of the wrong length are problems."""
    rows: list[tuple[int, dict[str, str]]] = []
    problems: list[PhotoProblem] = []
    try:
        # utf-8-sig: spreadsheet exports often start with a byte-order mark.
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            header = [name.strip() for name in next(reader, [])]
            _check_header(path, header, columns)
            for cells in reader:
                if not any(cell.strip() for cell in cells):
                    continue  # blank line
                if len(cells) != len(header):
                    problems.append(
                        PhotoProblem(
                            "error",
                            reader.line_num,
                            "",
                            f"row has {len(cells)} fields, the header has {len(header)}",
                        )
                    )
                    continue
                rows.append(
                    (reader.line_num, dict(zip(header, map(str.strip, cells), strict=True)))
                )
    except OSError as error:
        raise InputError(path, f"cannot read the photo table: {error.strerror or error}") from error
    except (csv.Error, UnicodeDecodeError) as error:
        raise InputError(path, f"not a readable CSV photo table ({error})") from error
    if not rows and not problems:
        raise InputError(path, "the photo table has no rows")
    return rows, problems


def _check_header(path: Path, header: list[str], columns: PhotoColumns) -> None:
    missing = [name for name in columns.required if name not in header]
    if missing:
        raise InputError(
            path,
            f"lacks column(s) {', '.join(missing)} named in the columns config "
            f"(the header has {', '.join(header) or 'nothing'})",
        )
    twice = sorted({name for name in columns.required if header.count(name) > 1})
    if twice:
        raise InputError(path, f"column(s) {', '.join(twice)} appear more than once in the header")


def parse_row(
    line: int, values: dict[str, str], columns: PhotoColumns, root: Path, warn: str
) -> Row:
    """Parse one row; each field that fails adds an error, the others are still parsed."""
    messages: list[str] = []
    image = _attempt(messages, lambda: normal_image_path(values[columns.image], root))
    patient_id = _attempt(messages, lambda: _required(values[columns.patient_id], "patient_id"))
    sex = _attempt(messages, lambda: _optional(values, columns.sex, "sex"))
    age = _attempt(messages, lambda: _age(values, columns.age))
    box = _attempt(messages, lambda: _box(values, columns))
    category = _attempt(messages, lambda: _category(values[columns.category], columns, box))
    where = image or values[columns.image]
    problems = [PhotoProblem("error", line, where, message) for message in messages]
    if category is not None and not any(values[name] for name in columns.box):
        problems.append(
            PhotoProblem(
                warn,
                line,
                where,
                f"category {category!r} without a box: counted as an image without lesion boxes",
            )
        )
    return Row(line, image, patient_id, sex, age, category, box, tuple(problems))


def _attempt(messages: list[str], parse: Callable[[], _T]) -> _T | None:
    try:
        return parse()
    except ValueError as error:
        messages.append(str(error))
        return None


def normal_image_path(text: str, root: Path) -> str:
    """The path relative to the images root, ``/``-separated and normalised."""
    if not text:
        raise ValueError("empty image path")
    check_text(text, "an image path")
    path = PurePosixPath(text.replace("\\", "/"))  # Windows exports use backslashes
    if path.is_absolute():
        try:
            path = PurePosixPath(Path(path).relative_to(root.resolve()).as_posix())
        except ValueError:
            raise ValueError(f"absolute image path outside the images root {root}") from None
    normal = posixpath.normpath(str(path))
    if normal == ".." or normal.startswith("../"):
        raise ValueError(f"image path leads outside the images root {root}")
    return normal


def _required(text: str, what: str) -> str:
    if not text:
        raise ValueError(f"empty {what}")
    check_text(text, f"a {what}")
    return text


def _optional(values: dict[str, str], column: str | None, what: str) -> str | None:
    if column is None or not values[column]:
        return None
    return _required(values[column], what)


def _age(values: dict[str, str], column: str | None) -> float | None:
    if column is None or not values[column]:
        return None
    number = decimal_number(values[column], "age")
    if not 0 <= number <= MAX_AGE:
        raise ValueError(f"age {values[column]!r} is not 0..{MAX_AGE} years")
    return float(number)


def _box(values: dict[str, str], columns: PhotoColumns) -> Box | None:
    """The box as ``x_min, y_min, x_max, y_max`` decimals, None when all four cells are empty."""
    texts = [values[name] for name in columns.box]
    if not any(texts):
        return None
    empty = [name for name, text in zip(columns.box, texts, strict=True) if not text]
    if empty:
        raise ValueError(f"incomplete box: empty {', '.join(empty)}")
    a, b, c, d = (decimal_number(t, n) for n, t in zip(columns.box, texts, strict=True))
    if columns.box_format == "xywh":
        if c <= 0 or d <= 0:
            raise ValueError(f"zero-area or inverted box: width {c}, height {d}")
        return (a, b, EXACT.add(a, c), EXACT.add(b, d))
    if c <= a or d <= b:
        raise ValueError(f"zero-area or inverted box: x_min {a}, y_min {b}, x_max {c}, y_max {d}")
    return (a, b, c, d)


def _category(text: str, columns: PhotoColumns, box: Box | None) -> str | None:
    if not text:
        if box is not None:
            raise ValueError("box without a category")
        return None
    if text not in columns.categories:
        close = difflib.get_close_matches(text, columns.categories, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ValueError(f"unknown category {text!r} ({hint}see categories in the columns config)")
    return text


def has_error(problems: Iterable[PhotoProblem]) -> bool:
    """Whether any of `problems` is an error (not only warnings)."""
    return any(problem.severity == "error" for problem in problems)
