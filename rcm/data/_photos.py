"""Clinical photographs with expert lesion boxes, read from a group's CSV with every problem named.

Groups export one CSV row per box (image, patient, sex, age, category, four box
coordinates); every group names its columns differently, so a YAML file maps
them (`load_photo_columns`). `read_photo_csv` reads the table, opens each image
header, and returns the valid part as a `PhotoDataset` together with every
problem found (`PhotoProblem`): nothing is dropped silently. CSV coordinates
are parsed as decimals, so the checks and the clipping are exact.

The stages: `rcm.data._photo_rows` (the CSV and each row's fields),
`rcm.data._photo_images` (image headers), `rcm.data._photo_checks` (an image
from all its rows) and `rcm.data._photo_report` (counts, summary, problems CSV).
"""

from __future__ import annotations

import os
from pathlib import Path

from rcm.data._photo_checks import assemble
from rcm.data._photo_dataset import (
    PhotoBox,
    PhotoColumns,
    PhotoDataset,
    PhotoProblem,
    PhotoRecord,
    load_photo_columns,
)
from rcm.data._photo_images import inspect_images
from rcm.data._photo_report import (
    PROBLEM_COLUMNS,
    count_problems,
    format_problems,
    photo_counts,
    photo_summary,
    read_problems,
    write_problems,
)
from rcm.data._photo_rows import Row, parse_row, read_table
from rcm.errors import InputError

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
    rows, problems = read_table(path, columns)
    parsed = [parse_row(line, values, columns, root, warn) for line, values in rows]
    problems += [problem for row in parsed for problem in row.problems]
    groups: dict[str, list[Row]] = {}
    for row in parsed:
        if row.image is not None:
            groups.setdefault(row.image, []).append(row)
    infos = inspect_images(root, list(groups), workers)
    records = []
    for image, image_rows in groups.items():
        record, found = assemble(image, image_rows, infos[image], warn)
        problems += found
        if record is not None:
            records.append(record)
    problems.sort(key=lambda problem: problem.line)
    return PhotoDataset(columns.categories, tuple(records)), problems
