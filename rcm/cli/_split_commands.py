"""``rcm data split``: patient-level, stratified train/validation/test splits of a table."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rcm.cli._options import positive_float
from rcm.data import DEFAULT_FRACTIONS
from rcm.errors import InputError

DEFAULT_PATIENT_COLUMN = "patient_id"


def register(data_commands: Any) -> None:
    """Add ``rcm data split`` to `rcm data`."""
    split = data_commands.add_parser(
        "split",
        help="split a table's items, or a photo set, by patient into train/validation/test",
        description="Assign the items of a CSV table (a training manifest, or a clinical-photo "
        "CSV where several rows share an image) or the photos of a photo set (a COCO .json "
        "file or a Pascal VOC folder) to splits so that no patient is in two, stratified by a "
        "category column (tables) or by the categories of each photo's boxes (photo sets). "
        "Writes OUT (item_id, patient_id, category, split) and OUT's stem + .json (seed, "
        "fractions, source checksum, summary). See docs/splits.md and docs/photos.md.",
    )
    split.add_argument(
        "table",
        metavar="TABLE|PHOTOS",
        help="CSV with an item id, a patient id and a category per row; or photo "
        "annotations: a COCO .json file or a Pascal VOC folder",
    )
    split.add_argument("--out", required=True, metavar="SPLIT.csv", help="split CSV to write")
    split.add_argument(
        "--id-column",
        help="column naming an item (default: mosaic_id if present, else image_id)",
    )
    split.add_argument(
        "--patient-column",
        help=f"column naming the patient (default {DEFAULT_PATIENT_COLUMN})",
    )
    _add_photo_options(split)
    stratify = split.add_mutually_exclusive_group()
    stratify.add_argument(
        "--stratify-column",
        help="column to stratify by (default: diagnosis, where empty or absent the label, "
        "else none)",
    )
    stratify.add_argument("--no-stratify", action="store_true", help="do not stratify")
    split.add_argument(
        "--fractions",
        nargs="+",
        type=positive_float,
        metavar="F",
        default=[share for _, share in DEFAULT_FRACTIONS],
        help="share of the items in each split, summing to 1 (default "
        + " ".join(f"{share:g}" for _, share in DEFAULT_FRACTIONS)
        + ")",
    )
    split.add_argument(
        "--names",
        nargs="+",
        default=[name for name, _ in DEFAULT_FRACTIONS],
        metavar="NAME",
        help="split names, one per fraction (default "
        + " ".join(name for name, _ in DEFAULT_FRACTIONS)
        + ")",
    )
    split.add_argument("--seed", type=int, default=0, help="random seed (default %(default)s)")
    split.add_argument("--overwrite", action="store_true", help="replace existing split files")
    split.set_defaults(run=run_split)


def _add_photo_options(split: argparse.ArgumentParser) -> None:
    split.add_argument(
        "--images-root",
        metavar="DIR",
        help="photo sets: folder the image paths are relative to (default: the one recorded "
        "by rcm data photos, else the COCO file's folder or the VOC folder's JPEGImages/)",
    )
    split.add_argument(
        "--patients",
        metavar="PATIENTS.csv",
        help="photo sets: CSV with columns image,patient_id (and optionally sex,age) for "
        "annotations that carry no patient ids",
    )


def run_split(args: argparse.Namespace) -> None:
    """Read the table, split it, write the split and print its summary."""
    from rcm.pipeline.split import SplitOptions, split_photos, split_table

    if len(args.fractions) != len(args.names):
        raise InputError(
            None, f"{len(args.fractions)} --fractions but {len(args.names)} --names: give one each"
        )
    photos = _is_photo_set(args.table)
    _check_options(args, photos)
    options = SplitOptions(
        fractions=tuple(zip(args.names, args.fractions, strict=True)),
        seed=args.seed,
        id_column=args.id_column,
        patient_column=args.patient_column or DEFAULT_PATIENT_COLUMN,
        stratify=not args.no_stratify,
        stratify_column=args.stratify_column,
    )
    if photos:
        outcome = split_photos(
            args.table,
            args.out,
            options,
            images_root=args.images_root,
            patients=args.patients,
            overwrite=args.overwrite,
        )
        for problem in outcome.problems[:20]:
            print(f"rcm: warning: {problem.image}: {problem.message}", file=sys.stderr)
        if len(outcome.problems) > 20:
            print(f"rcm: ... and {len(outcome.problems) - 20} more warnings", file=sys.stderr)
    else:
        outcome = split_table(args.table, args.out, options, overwrite=args.overwrite)
    print(format_summary(outcome.split.summary()))
    print(f"wrote {args.out} and {outcome.sidecar}")


def _is_photo_set(source: str) -> bool:
    """A COCO .json file or a VOC folder, rather than a CSV table."""
    path = Path(source)
    return path.is_dir() or path.suffix.lower() == ".json"


def _check_options(args: argparse.Namespace, photos: bool) -> None:
    """Options of one kind of source given for the other are errors, not ignored."""
    table_only = {
        "--id-column": args.id_column,
        "--patient-column": args.patient_column,
        "--stratify-column": args.stratify_column,
    }
    photos_only = {"--images-root": args.images_root, "--patients": args.patients}
    wrong = [flag for flag, value in (table_only if photos else photos_only).items() if value]
    if wrong:
        kind = "CSV tables" if photos else "photo sets (a COCO .json file or a VOC folder)"
        raise InputError(
            None, f"{', '.join(wrong)} appl{'ies' if len(wrong) == 1 else 'y'} to {kind} only"
        )


def format_summary(summary: Mapping[str, Any]) -> str:
    """A small text table: per split its items, share (target), patients and category shares."""
    categories = list(summary["categories"])
    head = ["split", "items", "share", "target", "patients", *categories]
    lines = [head]
    for name, part in summary["splits"].items():
        target = part["target_share"]
        lines.append(
            [
                name,
                str(part["items"]),
                _percent(part["share"]),
                "-" if target is None else _percent(target),
                str(part["patients"]),
                *(_percent(part["categories"][c]["share"]) for c in categories),
            ]
        )
    lines.append(
        [
            "total",
            str(summary["items"]),
            _percent(1.0),
            "",
            str(summary["patients"]),
            *(_percent(summary["categories"][c]["share"]) for c in categories),
        ]
    )
    widths = [max(len(line[k]) for line in lines) for k in range(len(head))]
    return "\n".join(_row(line, widths) for line in lines)


def _row(cells: Sequence[str], widths: Sequence[int]) -> str:
    """Names left-aligned, numbers right-aligned."""
    padded = [cells[0].ljust(widths[0])]
    padded += [cell.rjust(width) for cell, width in zip(cells[1:], widths[1:], strict=True)]
    return "  ".join(padded).rstrip()


def _percent(share: float) -> str:
    return f"{100 * share:.1f}%"
