"""The photo conversion stage: a group's photo table (CSV + column map) to COCO and Pascal VOC.

``rcm data photos`` and the photo demo call `convert_photo_table`. It checks
every row and image first and writes nothing when there are errors (unless
asked to skip the invalid images); the output folder appears complete or not
at all. It never prints: the problems come back in the result, or in the
error that stops it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rcm.data import (
    COCO_NAME,
    CONVERSION_NAME,
    PhotoDataset,
    PhotoProblem,
    count_problems,
    load_photo_columns,
    photo_counts,
    read_photo_csv,
    voc_files,
    write_coco,
    write_problems,
    write_voc,
)
from rcm.errors import InputError

FORMATS = ("coco", "voc")
PROBLEMS_NAME = "problems.csv"
VOC_NAME = "Annotations/"


@dataclass(frozen=True)
class PhotoConversionOptions:
    """What is written and how strictly the table is checked.

    Attributes:
        formats: The formats to write, of `FORMATS`.
        images_root: Folder the table's image paths are relative to; None takes the
            columns config's ``images_root``, else the table's folder.
        skip_invalid: Convert the valid images and list the others in problems.csv
            instead of stopping at the first error.
        strict: Count warnings as errors (those images are left out).

    """

    formats: tuple[str, ...] = FORMATS
    images_root: str | os.PathLike[str] | None = None
    skip_invalid: bool = False
    strict: bool = False


@dataclass(frozen=True)
class PhotoConversion:
    """What the conversion wrote.

    Attributes:
        folder: The output folder.
        dataset: The converted photographs.
        problems: Every problem found (warnings, and the errors of skipped images).
        written: The names written into `folder`, in order.
        coco: The COCO file, or None when COCO was not asked for.

    """

    folder: Path
    dataset: PhotoDataset
    problems: tuple[PhotoProblem, ...]
    written: tuple[str, ...]
    coco: Path | None


class PhotoConversionError(InputError):
    """Problems with the table stopped the conversion; `problems` lists all of them."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        reason: str,
        problems: Sequence[PhotoProblem],
        dataset: PhotoDataset,
    ) -> None:
        super().__init__(path, reason)
        self.problems = tuple(problems)
        self.dataset = dataset


def convert_photo_table(
    table: str | os.PathLike[str],
    columns: str | os.PathLike[str],
    out: str | os.PathLike[str],
    options: PhotoConversionOptions = PhotoConversionOptions(),
    *,
    overwrite: bool = False,
) -> PhotoConversion:
    """Check the table, then write every requested format into the folder `out`, atomically.

    Writes ``annotations.coco.json`` and/or ``Annotations/*.xml``, ``problems.csv`` and
    ``conversion.json`` (what was converted, with which mapping, by which rcm).

    Raises:
        PhotoConversionError: If the table has errors (without `options.skip_invalid`)
            or no valid image; it carries every problem found.
        InputError: For a bad columns config, or two images sharing a VOC file name.
        OutputError: If `out` exists without `overwrite` (checked before the images
            are read).

    """
    from rcm.io import atomic_output, check_output

    unknown = sorted(set(options.formats) - set(FORMATS))
    if unknown or not options.formats:
        raise InputError(None, f"formats must be some of {', '.join(FORMATS)}, got {unknown}")
    check_output(out, overwrite=overwrite)  # fail before scanning thousands of images
    mapping = load_photo_columns(columns)
    dataset, problems = read_photo_csv(table, mapping, options.images_root, strict=options.strict)
    _check_convertible(table, dataset, problems, options)
    formats = tuple(name for name in FORMATS if name in options.formats)
    if "voc" in formats:
        voc_files(dataset)  # two images sharing an XML name fail before anything is written
    record = _provenance(table, columns, asdict(mapping), options, formats, dataset, problems)
    with atomic_output(out, overwrite=overwrite) as folder:
        folder.mkdir()
        write_problems(folder / PROBLEMS_NAME, problems)
        if "coco" in formats:
            write_coco(dataset, folder / COCO_NAME)
        if "voc" in formats:
            write_voc(dataset, folder)
        (folder / CONVERSION_NAME).write_text(json.dumps(record, indent=2) + "\n")
    written = [COCO_NAME] * ("coco" in formats) + [VOC_NAME] * ("voc" in formats)
    return PhotoConversion(
        folder=Path(out),
        dataset=dataset,
        problems=tuple(problems),
        written=(*written, PROBLEMS_NAME, CONVERSION_NAME),
        coco=Path(out) / COCO_NAME if "coco" in formats else None,
    )


def _check_convertible(
    table: str | os.PathLike[str],
    dataset: PhotoDataset,
    problems: list[PhotoProblem],
    options: PhotoConversionOptions,
) -> None:
    """Refuse a table with errors (unless skipping them) or without one valid image."""
    errors, _ = count_problems(problems)
    if errors and not options.skip_invalid:
        warnings_too = "; --strict counts warnings" if options.strict else ""
        raise PhotoConversionError(
            table,
            f"{errors} error(s) (listed above{warnings_too}); nothing written (--skip-invalid "
            f"converts the valid images and lists the rest in {PROBLEMS_NAME})",
            problems,
            dataset,
        )
    if not dataset.images:
        raise PhotoConversionError(
            table, "no valid images to convert; nothing written", problems, dataset
        )


def _provenance(
    table: str | os.PathLike[str],
    columns_path: str | os.PathLike[str],
    columns: dict[str, Any],
    options: PhotoConversionOptions,
    formats: tuple[str, ...],
    dataset: PhotoDataset,
    problems: Sequence[PhotoProblem],
) -> dict[str, Any]:
    """What was converted, with which mapping and options, by which rcm."""
    from rcm._version import __version__
    from rcm.io import file_checksum

    # The images root the paths are relative to, absolute: readers of the outputs use it.
    root = Path(options.images_root or columns["images_root"] or Path(table).parent)
    return {
        "rcm": __version__,
        "images_root": str(root.resolve()),
        "csv": {"path": str(table), "checksum": file_checksum(table)},
        "columns": {
            "path": str(columns_path),
            "checksum": file_checksum(columns_path),
            "resolved": {**columns, "images_root": _text(columns["images_root"])},
        },
        "options": {
            "formats": list(formats),
            "images_root": _text(options.images_root),
            "skip_invalid": options.skip_invalid,
            "strict": options.strict,
        },
        "counts": photo_counts(dataset, problems),
    }


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
