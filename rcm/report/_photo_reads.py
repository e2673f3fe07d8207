"""Clinicians' reads of photos: calls per reader, photo and category.

A reads file is a CSV with ``reader`` and ``image`` (the paths of
predictions.csv) and either

- ``category``: the reader's diagnosis, one row per reader, photo and called
  category (an empty category: nothing called on that photo). A photo a reader
  has a row for is read by them; every category they did not call on it is a
  negative call. An optional ``confidence`` (0..1) is checked, not used; or
- ``score_<category>`` columns: the reader's confidence in each category,
  0..1; at or above the reader threshold is a positive call. One row per
  reader and photo.

Problems are named with the file and line: unknown categories, scores that are
not numbers in [0, 1], a reader's photo listed twice (score form) are errors;
photos that are not evaluated (not in the truth, or outside the split's part)
are warnings, their reads left out.
"""

from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rcm.errors import InputError
from rcm.outputs import InputProblem
from rcm.report._photo_cohort import PhotoCohort

SCORE_PREFIX = "score_"


@dataclass(frozen=True)
class PhotoReads:
    """Each reader's calls, one entry per (reader, photo).

    Attributes:
        readers: ``(m,)`` reader of each entry.
        photos: ``(m,)`` index of the photo in the cohort.
        calls: ``(m, C)`` True where the reader called the category.
        covered: ``(C,)`` whether the file has calls of each category (a score
            form file may leave a category out).

    """

    readers: np.ndarray
    photos: np.ndarray
    calls: np.ndarray
    covered: np.ndarray

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(sorted(set(self.readers.tolist())))


def load_photo_reads(
    path: str | os.PathLike[str],
    cohort: PhotoCohort,
    problems: list[InputProblem],
    *,
    threshold: float = 0.5,
) -> PhotoReads:
    """Read a reads file against the cohort; its problems go to `problems`.

    Reads of photos in the truth but outside the evaluated split part are left
    out quietly; reads of photos not in the truth are a warning.

    Raises:
        InputError: If the file cannot be read, lacks ``reader`` or ``image``, or
            has neither a ``category`` column nor ``score_<category>`` columns.

    """
    header, rows = _rows(Path(path))
    scored = [name for name in header if name.startswith(SCORE_PREFIX)]
    if ("category" in header) == bool(scored):
        raise InputError(
            path, "reads need either a category column or score_<category> columns (not both)"
        )
    reads = _Collected(str(path), cohort, problems)
    for line, row in rows:
        if not row.get("reader") or not row.get("image"):
            reads.problem("error", line, None, "empty reader or image")
        elif scored:
            reads.add_scores(line, row, scored, threshold)
        else:
            reads.add_category(line, row)
    for name in scored:
        category = name.removeprefix(SCORE_PREFIX)
        if category not in cohort.categories:
            reads.problem("error", 1, None, f"column {name}: {category!r} is not a category")
    covered = np.array(
        [not scored or SCORE_PREFIX + name in scored for name in cohort.categories], bool
    )
    return reads.finish(covered)


def _rows(path: Path) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """The header and (line, row) pairs, cells stripped."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            header = list(reader.fieldnames or [])
            rows = [
                (reader.line_num, {k: (v or "").strip() for k, v in row.items() if k})
                for row in reader
            ]
    except OSError as error:
        raise InputError(path, f"cannot read the reads: {error.strerror or error}") from error
    except (csv.Error, UnicodeDecodeError) as error:
        raise InputError(path, f"not a readable CSV of reads ({error})") from error
    missing = [name for name in ("reader", "image") if name not in header]
    if missing:
        raise InputError(path, f"reads lack column(s) {', '.join(missing)}")
    if not rows:
        raise InputError(path, "reads have no rows")
    return header, rows


class _Collected:
    """Reads gathered row by row, with their problems."""

    def __init__(self, path: str, cohort: PhotoCohort, problems: list[InputProblem]) -> None:
        self.path, self.problems = path, problems
        self.categories = {name: number for number, name in enumerate(cohort.categories)}
        self.photos = {image: number for number, image in enumerate(cohort.images)}
        self.known = {record.image for record in cohort.source.dataset.images}
        self.calls: dict[tuple[str, int], np.ndarray] = {}
        self.lines: dict[tuple[str, int], int] = {}

    def problem(self, severity: str, line: int, image: str | None, message: str) -> None:
        self.problems.append(InputProblem(severity, self.path, line, image, message))  # type: ignore[arg-type]

    def _entry(self, line: int, row: dict[str, str]) -> tuple[str, int] | None:
        """The (reader, photo) key of a row, None when the photo is not evaluated."""
        image = row["image"]
        if image not in self.photos and image in self.known:
            # Reads usually cover the whole set and one split part is evaluated: the other
            # parts' reads are expected, not a problem (a warning per row, and an error
            # under --strict, would stop the usual case).
            return None
        if image not in self.photos:
            message = f"read by {row['reader']} but not in the truth; left out"
            self.problem("warning", line, image, message)
            return None
        key = (row["reader"], self.photos[image])
        self.calls.setdefault(key, np.zeros(len(self.categories), bool))
        return key

    def add_category(self, line: int, row: dict[str, str]) -> None:
        category = row.get("category", "")
        if category and category not in self.categories:
            self.problem("error", line, row["image"], f"unknown category {category!r}")
            return
        confidence = row.get("confidence")
        if confidence and _unit(confidence) is None:
            self.problem("error", line, row["image"], f"confidence {confidence!r} is not in 0..1")
            return
        key = self._entry(line, row)
        if key is not None and category:
            self.calls[key][self.categories[category]] = True

    def add_scores(self, line: int, row: dict[str, str], columns: list[str], cut: float) -> None:
        values = {}
        for name in columns:
            category = name.removeprefix(SCORE_PREFIX)
            if category not in self.categories:
                continue  # named once, for the header
            value = _unit(row.get(name, ""))
            if value is None:
                message = f"{name} {row.get(name, '')!r} is not a number in 0..1"
                self.problem("error", line, row["image"], message)
                return
            values[self.categories[category]] = value
        image = row["image"]
        if image in self.photos and (row["reader"], self.photos[image]) in self.calls:
            first = self.lines[(row["reader"], self.photos[image])]
            message = f"{row['reader']} read it already on line {first}"
            self.problem("error", line, image, message)
            return
        key = self._entry(line, row)
        if key is not None:
            self.lines[key] = line
            for index, value in values.items():
                self.calls[key][index] = value >= cut

    def finish(self, covered: np.ndarray) -> PhotoReads:
        keys = sorted(self.calls)
        calls = np.array([self.calls[key] for key in keys], bool).reshape(-1, len(covered))
        return PhotoReads(
            np.array([key[0] for key in keys], dtype=object).astype(str),
            np.array([key[1] for key in keys], np.int64),
            calls,
            covered,
        )


def _unit(text: str) -> float | None:
    """A number in [0, 1], or None."""
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) and 0.0 <= value <= 1.0 else None
