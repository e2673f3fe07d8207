"""``rcm data photos``: a group's photo table (CSV + column mapping) to COCO and Pascal VOC."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rcm.errors import InputError

FORMATS = ("coco", "voc")
PROBLEMS_NAME = "problems.csv"


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
    from rcm.data import (
        COCO_NAME,
        CONVERSION_NAME,
        count_problems,
        format_problems,
        load_photo_columns,
        photo_counts,
        photo_summary,
        read_photo_csv,
        voc_files,
        write_coco,
        write_problems,
        write_voc,
    )
    from rcm.io import atomic_output, check_output

    check_output(args.out, overwrite=args.overwrite)  # fail before scanning thousands of images
    columns = load_photo_columns(args.columns)
    dataset, problems = read_photo_csv(args.csv, columns, args.images_root, strict=args.strict)
    for line in format_problems(problems):
        print(f"rcm: {line}", file=sys.stderr)
    print(f"{args.csv}: {photo_summary(dataset, problems)}")
    errors, _ = count_problems(problems)
    if errors and not args.skip_invalid:
        raise InputError(
            args.csv,
            f"{errors} error(s) (listed above{'; --strict counts warnings' if args.strict else ''})"
            "; nothing written (--skip-invalid converts the valid images and lists the rest "
            f"in {PROBLEMS_NAME})",
        )
    if not dataset.images:
        raise InputError(args.csv, "no valid images to convert; nothing written")
    formats = [name for name in FORMATS if name in args.format]
    if "voc" in formats:
        voc_files(dataset)  # two images sharing an XML name fail before anything is written
    with atomic_output(args.out, overwrite=args.overwrite) as folder:
        folder.mkdir()
        write_problems(folder / PROBLEMS_NAME, problems)
        if "coco" in formats:
            write_coco(dataset, folder / COCO_NAME)
        if "voc" in formats:
            write_voc(dataset, folder)
        provenance = _provenance(args, asdict(columns), formats, photo_counts(dataset, problems))
        (folder / CONVERSION_NAME).write_text(json.dumps(provenance, indent=2) + "\n")
    written = [COCO_NAME] * ("coco" in formats) + ["Annotations/"] * ("voc" in formats)
    print(f"wrote {Path(args.out)}: {', '.join([*written, PROBLEMS_NAME, CONVERSION_NAME])}")


def _provenance(
    args: argparse.Namespace, columns: dict[str, Any], formats: list[str], counts: dict[str, int]
) -> dict[str, Any]:
    """What was converted, with which mapping and options, by which rcm."""
    from rcm._version import __version__
    from rcm.io import file_checksum

    # The images root the paths are relative to, absolute: readers of the outputs use it.
    root = Path(args.images_root or columns["images_root"] or Path(args.csv).parent)
    return {
        "rcm": __version__,
        "images_root": str(root.resolve()),
        "csv": {"path": str(args.csv), "checksum": file_checksum(args.csv)},
        "columns": {
            "path": str(args.columns),
            "checksum": file_checksum(args.columns),
            "resolved": {**columns, "images_root": _text(columns["images_root"])},
        },
        "options": {
            "formats": formats,
            "images_root": _text(args.images_root),
            "skip_invalid": args.skip_invalid,
            "strict": args.strict,
        },
        "counts": counts,
    }


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
