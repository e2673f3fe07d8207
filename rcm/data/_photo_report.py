"""The photo table's problems reported: counts, a one-line summary, readable lines, a CSV."""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from rcm.data._photo_dataset import PhotoDataset, PhotoProblem
from rcm.errors import InputError
from rcm.io import atomic_output

PROBLEM_COLUMNS = ("severity", "line", "image", "message")


def count_problems(problems: Iterable[PhotoProblem]) -> tuple[int, int]:
    """``(errors, warnings)``."""
    severities = [problem.severity for problem in problems]
    return severities.count("error"), severities.count("warning")


def photo_counts(dataset: PhotoDataset, problems: Sequence[PhotoProblem]) -> dict[str, int]:
    """Images, boxes, patients, errors and warnings, by name."""
    errors, warnings = count_problems(problems)
    return {
        "images": len(dataset.images),
        "boxes": dataset.n_boxes,
        "patients": len(dataset.patients),
        "errors": errors,
        "warnings": warnings,
    }


def photo_summary(dataset: PhotoDataset, problems: Sequence[PhotoProblem]) -> str:
    """One line: images, boxes, patients, errors, warnings."""
    counts = photo_counts(dataset, problems)
    return (
        "{images} images, {boxes} boxes, {patients} patients; "
        "{errors} errors, {warnings} warnings".format(**counts)
    )


def format_problems(problems: Sequence[PhotoProblem], limit: int = 20) -> list[str]:
    """Human-readable lines for the first `limit` problems, then how many more there are."""
    lines = [
        f"line {p.line}: {p.severity}: {p.image + ': ' if p.image else ''}{p.message}"
        for p in problems[:limit]
    ]
    if len(problems) > limit:
        lines.append(f"... and {len(problems) - limit} more")
    return lines


def write_problems(
    path: str | os.PathLike[str], problems: Iterable[PhotoProblem], *, overwrite: bool = False
) -> Path:
    """Write the problems as CSV (severity, line, image, message), atomically."""
    with (
        atomic_output(path, overwrite=overwrite) as partial,
        partial.open("w", newline="", encoding="utf-8") as handle,
    ):
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(PROBLEM_COLUMNS)
        for p in problems:
            writer.writerow((p.severity, p.line, p.image, p.message))
    return Path(path)


def read_problems(path: str | os.PathLike[str]) -> list[PhotoProblem]:
    """Read a ``problems.csv`` written by `write_problems`."""
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            return [
                PhotoProblem(row["severity"], int(row["line"]), row["image"], row["message"])
                for row in csv.DictReader(handle)
            ]
    except (OSError, csv.Error, KeyError, ValueError) as error:
        raise InputError(path, f"not a problems table ({error})") from error
