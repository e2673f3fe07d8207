"""One photo from its rows: the checks that need all of an image's rows and its header.

Rows must agree on the patient, duplicates are kept once, boxes are clipped to
the image (or refused when outside), and an image is left out whole when any
of its rows has an error.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from rcm.data._photo_dataset import EXACT, PhotoBox, PhotoProblem, PhotoRecord
from rcm.data._photo_images import ImageInfo, orientation_note
from rcm.data._photo_rows import Row, has_error


def assemble(
    image: str, rows: list[Row], info: ImageInfo | str, warn: str
) -> tuple[PhotoRecord | None, list[PhotoProblem]]:
    """Check an image's rows together; the record is None when the image is left out."""
    first = rows[0].line
    if isinstance(info, str):
        lines = ", ".join(str(row.line) for row in rows)
        return None, [PhotoProblem("error", first, image, f"{info} (line(s) {lines})")]
    clean = [row for row in rows if not row.failed]
    if not clean:  # every row already has its own error
        return None, []
    whole = _conflicts(image, clean)
    if info.orientation != 1:
        whole.append(_orientation_problem(image, first, info, warn))
    duplicates = _duplicates(image, clean, warn)
    skip = {problem.line for problem in duplicates}  # kept once, at the first line
    problems = whole + duplicates
    boxes: list[PhotoBox] = []
    for row in clean:
        if row.box is not None and row.line not in skip:
            box, problem = _fit_box(image, row, info, warn)
            problems += [problem] if problem else []
            boxes += [box] if box else []
    if has_error(whole):  # an error of the whole image: every row goes with it
        return None, problems
    failed = {p.line for p in problems if p.severity == "error"} | {
        row.line for row in rows if row.failed
    }
    if failed:
        return None, problems + _left_out(image, rows, sorted(failed))
    if not boxes:
        problems.append(PhotoProblem(warn, first, image, "no lesion boxes: kept without boxes"))
        if has_error(problems):
            return None, problems
    patient_id, sex, age = clean[0].patient_id, clean[0].sex, clean[0].age
    assert patient_id is not None  # a row without errors has a patient
    size = (info.width, info.height, info.depth)
    return PhotoRecord(image, *size, patient_id, sex, age, tuple(boxes)), problems


def _left_out(image: str, rows: list[Row], failed: list[int]) -> list[PhotoProblem]:
    """Name the rows that had no error of their own but go with their image."""
    kept = [row.line for row in rows if row.line not in failed]
    if not kept:
        return []
    message = (
        f"left out with its image because line(s) {', '.join(map(str, failed))} have errors "
        "(a partly annotated image would teach its missing lesions as background)"
    )
    return [PhotoProblem("error", kept[0], image, message)]


def _conflicts(image: str, rows: list[Row]) -> list[PhotoProblem]:
    """Patient id, sex and age must agree on every row of an image."""
    problems = []
    for what in ("patient_id", "sex", "age"):
        seen: dict[Any, list[int]] = {}
        for row in rows:
            seen.setdefault(getattr(row, what), []).append(row.line)
        if len(seen) > 1:
            listed = "; ".join(
                f"{'(empty)' if value is None else value} on line(s) {', '.join(map(str, lines))}"
                for value, lines in seen.items()
            )
            problems.append(
                PhotoProblem("error", rows[0].line, image, f"{what} differs between rows: {listed}")
            )
    return problems


def _duplicates(image: str, rows: list[Row], warn: str) -> list[PhotoProblem]:
    first: dict[tuple[Any, ...], int] = {}
    problems = []
    for row in rows:
        if row.identity in first:
            message = f"duplicate of line {first[row.identity]}: kept once"
            problems.append(PhotoProblem(warn, row.line, image, message))
        else:
            first[row.identity] = row.line
    return problems


def _fit_box(
    image: str, row: Row, info: ImageInfo, warn: str
) -> tuple[PhotoBox | None, PhotoProblem | None]:
    """The row's box inside the image: clipped with a warning, or an error when outside."""
    assert row.box is not None and row.category is not None  # checked by the caller
    x0, y0, x1, y1 = row.box
    width, height = Decimal(info.width), Decimal(info.height)
    written = f"box [{x0}, {y0}, {x1}, {y1}] (x_min, y_min, x_max, y_max)"
    size = f"{info.width} x {info.height}"
    if x0 >= width or y0 >= height or x1 <= 0 or y1 <= 0:
        return None, PhotoProblem(
            "error", row.line, image, f"{written} is outside the {size} image"
        )
    clipped = (max(x0, Decimal(0)), max(y0, Decimal(0)), min(x1, width), min(y1, height))
    problem = None
    if clipped != row.box:
        shown = ", ".join(str(value) for value in clipped)
        message = f"{written} extends outside the {size} image: clipped to [{shown}]"
        problem = PhotoProblem(warn, row.line, image, message)
    a, b, c, d = clipped
    box = PhotoBox(
        row.category,
        float(a),
        float(b),
        float(EXACT.subtract(c, a)),
        float(EXACT.subtract(d, b)),
    )
    return box, problem


def _orientation_problem(image: str, line: int, info: ImageInfo, warn: str) -> PhotoProblem:
    return PhotoProblem(warn, line, image, orientation_note(info))
