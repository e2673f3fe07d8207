"""Clinical photographs with expert lesion boxes, read from a group's CSV with every problem named.

Groups export one CSV row per box (image, patient, sex, age, category, four box
coordinates); every group names its columns differently, so a YAML file maps
them (`load_photo_columns`). `read_photo_csv` reads the table, opens each image
header, and returns the valid part as a `PhotoDataset` together with every
problem found (`PhotoProblem`): nothing is dropped silently. CSV coordinates
are parsed as decimals, so the checks and the clipping are exact.
"""

from __future__ import annotations

import csv
import difflib
import os
import posixpath
import struct
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path, PurePosixPath
from typing import Any, TypeVar

from PIL import Image

from rcm.data._photo_dataset import (
    EXACT,
    MAX_AGE,
    PhotoBox,
    PhotoColumns,
    PhotoDataset,
    PhotoProblem,
    PhotoRecord,
    check_text,
    decimal_number,
    load_photo_columns,
)
from rcm.errors import InputError
from rcm.io._atomic import atomic_output

__all__ = [
    "PROBLEM_COLUMNS",
    "PhotoBox",
    "PhotoColumns",
    "PhotoDataset",
    "PhotoProblem",
    "PhotoRecord",
    "count_problems",
    "format_problems",
    "load_photo_columns",
    "photo_counts",
    "photo_summary",
    "read_photo_csv",
    "read_problems",
    "write_problems",
]

PROBLEM_COLUMNS = ("severity", "line", "image", "message")
_EXIF_ORIENTATION = 0x0112
# What Pillow raises for files it cannot parse (no single base class covers them).
_PILLOW_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError)
_T = TypeVar("_T")


def read_photo_csv(
    csv_path: str | os.PathLike[str],
    columns: PhotoColumns,
    images_root: str | os.PathLike[str] | None = None,
    *,
    strict: bool = False,
    workers: int | None = None,
) -> tuple[PhotoDataset, list[PhotoProblem]]:
    """Read a photo table, check every row and image, and keep the valid images.

    An image is left out when any of its rows has an error, so no image is kept
    with only part of its boxes (the missing lesions would train as background).

    Args:
        csv_path: The table, one row per box (a row with an empty box lists an
            image without lesion boxes).
        columns: The column mapping.
        images_root: Folder the image paths are relative to; default the config's
            ``images_root``, else the CSV's folder.
        strict: Report warnings as errors, so those images are left out too.
        workers: Threads that open image headers (default: up to 8).

    Returns:
        The valid images, and every problem sorted by line.

    Raises:
        InputError: If the table cannot be read, lacks a mapped column or has no
            rows, or the images root is not a folder.

    """
    path = Path(csv_path)
    root = Path(images_root or columns.images_root or path.parent)
    if not root.is_dir():
        raise InputError(root, "images root is not a folder")
    warn = "error" if strict else "warning"
    rows, problems = _read_table(path, columns)
    parsed = [_parse_row(line, values, columns, root, warn) for line, values in rows]
    problems += [problem for row in parsed for problem in row.problems]
    groups: dict[str, list[_Row]] = {}
    for row in parsed:
        if row.image is not None:
            groups.setdefault(row.image, []).append(row)
    infos = _inspect_images(root, list(groups), workers)
    records = []
    for image, image_rows in groups.items():
        record, found = _assemble(image, image_rows, infos[image], warn)
        problems += found
        if record is not None:
            records.append(record)
    problems.sort(key=lambda problem: problem.line)
    return PhotoDataset(columns.categories, tuple(records)), problems


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


# --- rows -----------------------------------------------------------------------------

# A box as written: x_min, y_min, x_max, y_max as exact decimals.
_Box = tuple[Decimal, Decimal, Decimal, Decimal]


@dataclass(frozen=True)
class _Row:
    """One parsed table row; fields that failed to parse are None and named in `problems`."""

    line: int
    image: str | None
    patient_id: str | None
    sex: str | None
    age: float | None
    category: str | None
    box: _Box | None
    problems: tuple[PhotoProblem, ...] = ()

    @property
    def failed(self) -> bool:
        return _has_error(self.problems)

    @property
    def identity(self) -> tuple[Any, ...]:
        """What two rows must share to be duplicates."""
        return (self.patient_id, self.sex, self.age, self.category, self.box)


def _read_table(
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


def _parse_row(
    line: int, values: dict[str, str], columns: PhotoColumns, root: Path, warn: str
) -> _Row:
    """Parse one row; each field that fails adds an error, the others are still parsed."""
    messages: list[str] = []
    image = _attempt(messages, lambda: _image_path(values[columns.image], root))
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
    return _Row(line, image, patient_id, sex, age, category, box, tuple(problems))


def _attempt(messages: list[str], parse: Callable[[], _T]) -> _T | None:
    try:
        return parse()
    except ValueError as error:
        messages.append(str(error))
        return None


def _image_path(text: str, root: Path) -> str:
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


def _box(values: dict[str, str], columns: PhotoColumns) -> _Box | None:
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


def _category(text: str, columns: PhotoColumns, box: _Box | None) -> str | None:
    if not text:
        if box is not None:
            raise ValueError("box without a category")
        return None
    if text not in columns.categories:
        close = difflib.get_close_matches(text, columns.categories, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ValueError(f"unknown category {text!r} ({hint}see categories in the columns config)")
    return text


# --- images ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _ImageInfo:
    width: int
    height: int
    depth: int
    orientation: int


def _inspect_images(
    root: Path, images: list[str], workers: int | None
) -> dict[str, _ImageInfo | str]:
    """Each image's header, or the reason it cannot be used; headers are read in threads."""
    count = workers or min(8, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=count) as pool:
        found = pool.map(lambda image: _inspect_image(root / image), images)
        return dict(zip(images, found, strict=True))


def _inspect_image(path: Path) -> _ImageInfo | str:
    """Size and channels from the header, with the integrity checks that stay cheap."""
    if not path.is_file():
        return f"image file not found: {path}"
    try:
        with Image.open(path) as image:
            image.verify()  # PNG: chunk checksums, catches truncation without decoding
            # The header fields stay valid after verify(); the pixels are never decoded.
            info = _ImageInfo(image.width, image.height, len(image.getbands()), _orientation(image))
            is_jpeg = image.format == "JPEG"
        if is_jpeg and not _jpeg_ends(path):
            _decode(path)  # data after the end marker, or truncated: decoding tells which
    except Image.DecompressionBombError as error:
        return f"image too large to check ({error})"
    except _PILLOW_ERRORS as error:
        return f"not a readable image ({error}): {path}"
    return info


def _orientation(image: Image.Image) -> int:
    """The EXIF orientation from the header bytes (``getexif`` would decode a PNG)."""
    raw = image.info.get("exif")
    if not isinstance(raw, bytes):
        return 1
    exif = Image.Exif()
    exif.load(raw)
    value = exif.get(_EXIF_ORIENTATION, 1)
    return value if isinstance(value, int) else 1  # a malformed tag: read as upright


def _jpeg_ends(path: Path) -> bool:
    """Whether the JPEG end-of-image marker is near the end (entropy data never holds it)."""
    with path.open("rb") as handle:
        handle.seek(max(0, path.stat().st_size - 1024))
        return b"\xff\xd9" in handle.read()


def _decode(path: Path) -> None:
    with Image.open(path) as image:
        image.load()


# --- one image from its rows ----------------------------------------------------------


def _assemble(
    image: str, rows: list[_Row], info: _ImageInfo | str, warn: str
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
    if _has_error(whole):  # an error of the whole image: every row goes with it
        return None, problems
    failed = {p.line for p in problems if p.severity == "error"} | {
        row.line for row in rows if row.failed
    }
    if failed:
        return None, problems + _left_out(image, rows, sorted(failed))
    if not boxes:
        problems.append(PhotoProblem(warn, first, image, "no lesion boxes: kept without boxes"))
        if _has_error(problems):
            return None, problems
    patient_id, sex, age = clean[0].patient_id, clean[0].sex, clean[0].age
    assert patient_id is not None  # a row without errors has a patient
    size = (info.width, info.height, info.depth)
    return PhotoRecord(image, *size, patient_id, sex, age, tuple(boxes)), problems


def _has_error(problems: Iterable[PhotoProblem]) -> bool:
    return any(problem.severity == "error" for problem in problems)


def _left_out(image: str, rows: list[_Row], failed: list[int]) -> list[PhotoProblem]:
    """Name the rows that had no error of their own but go with their image."""
    kept = [row.line for row in rows if row.line not in failed]
    if not kept:
        return []
    message = (
        f"left out with its image because line(s) {', '.join(map(str, failed))} have errors "
        "(a partly annotated image would teach its missing lesions as background)"
    )
    return [PhotoProblem("error", kept[0], image, message)]


def _conflicts(image: str, rows: list[_Row]) -> list[PhotoProblem]:
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


def _duplicates(image: str, rows: list[_Row], warn: str) -> list[PhotoProblem]:
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
    image: str, row: _Row, info: _ImageInfo, warn: str
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


def _orientation_problem(image: str, line: int, info: _ImageInfo, warn: str) -> PhotoProblem:
    return PhotoProblem(
        warn,
        line,
        image,
        f"EXIF orientation {info.orientation}: viewers rotate or flip this photo, but boxes "
        f"are taken in the stored {info.width} x {info.height} pixels; check the annotation "
        "tool used the same frame",
    )
