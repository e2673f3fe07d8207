"""``rcm data photos``: a group's photo table (CSV + column mapping) to COCO and Pascal VOC."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rcm.pipeline.convert_photos import FORMATS

if TYPE_CHECKING:
    from rcm.data import PhotoDataset, PhotoProblem


def register(data_commands: Any) -> None:
    """Add this module's subcommands to `rcm data`."""
    photos = data_commands.add_parser(
        "photos",
        help="clinical photographs with lesion boxes (CSV) to COCO JSON and Pascal VOC XML",
        description="Read a photo table (one row per lesion box; a row with an empty box lists "
        "an image without boxes) through a columns config, check every row and image, and "
        "write FOLDER/annotations.coco.json, FOLDER/Annotations/*.xml (Pascal VOC), "
        "FOLDER/problems.csv and FOLDER/conversion.json. Any error stops the conversion "
        "unless --skip-invalid is given. See docs/photos.md.",
    )
    photos.add_argument("csv", metavar="CSV", help="the photo table")
    photos.add_argument(
        "--columns",
        required=True,
        metavar="COLUMNS.yaml",
        help="which column holds what (see configs/photos-columns.yaml)",
    )
    photos.add_argument("--out", required=True, metavar="FOLDER", help="output folder to create")
    photos.add_argument(
        "--format",
        nargs="+",
        choices=FORMATS,
        default=list(FORMATS),
        help="formats to write (default: both)",
    )
    photos.add_argument(
        "--images-root",
        metavar="DIR",
        help="folder the image paths are relative to (default: the config's images_root, "
        "else the CSV's folder)",
    )
    photos.add_argument(
        "--skip-invalid",
        action="store_true",
        help="convert the valid images and list the others in problems.csv instead of stopping",
    )
    photos.add_argument(
        "--strict", action="store_true", help="count warnings as errors (those images are left out)"
    )
    photos.add_argument("--overwrite", action="store_true", help="replace an existing FOLDER")
    photos.set_defaults(run=run_photos)


def run_photos(args: argparse.Namespace) -> None:
    """Check the table, then write every requested format into one folder, atomically."""
    from rcm.pipeline.convert_photos import (
        PhotoConversionError,
        PhotoConversionOptions,
        convert_photo_table,
    )

    options = PhotoConversionOptions(
        formats=tuple(args.format),
        images_root=args.images_root,
        skip_invalid=args.skip_invalid,
        strict=args.strict,
    )
    try:
        result = convert_photo_table(
            args.csv, args.columns, args.out, options, overwrite=args.overwrite
        )
    except PhotoConversionError as error:
        print_conversion(args.csv, error.dataset, error.problems)
        raise
    print_conversion(args.csv, result.dataset, result.problems)
    print(f"wrote {Path(args.out)}: {', '.join(result.written)}")


def print_conversion(
    table: str | os.PathLike[str], dataset: PhotoDataset, problems: Sequence[PhotoProblem]
) -> None:
    """The problems found (stderr), then one line of counts."""
    from rcm.data import format_problems, photo_summary

    for line in format_problems(problems):
        print(f"rcm: {line}", file=sys.stderr)
    print(f"{table}: {photo_summary(dataset, problems)}")
