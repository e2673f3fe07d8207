"""``rcm data split``: patient-level, stratified train/validation/test splits of a table."""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from typing import Any

from rcm.cli._options import positive_float
from rcm.errors import InputError

ID_COLUMNS = ("mosaic_id", "image_id")  # the default: a training manifest, else photos
STRATIFY_COLUMNS = ("diagnosis", "label")
UNSTRATIFIED = "all"  # the one category of every item when not stratifying


def register(data_commands: Any) -> None:
    """Add ``rcm data split`` to `rcm data`."""
    split = data_commands.add_parser(
        "split",
        help="split a table's items by patient into train/validation/test",
        description="Assign the items of a CSV table (a training manifest, or a clinical-photo "
        "CSV where several rows share an image) to splits so that no patient is in two, "
        "stratified by a category column. Writes OUT (item_id, patient_id, category, split) "
        "and OUT's stem + .json (seed, fractions, source checksum, summary).",
    )
    split.add_argument("table", help="CSV with an item id, a patient id and a category per row")
    split.add_argument("--out", required=True, metavar="SPLIT.csv", help="split CSV to write")
    split.add_argument(
        "--id-column",
        help=f"column naming an item (default: {' if present, else '.join(ID_COLUMNS)})",
    )
    split.add_argument(
        "--patient-column",
        default="patient_id",
        help="column naming the patient (default %(default)s)",
    )
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
        default=[0.7, 0.15, 0.15],
        help="share of the items in each split, summing to 1 (default 0.7 0.15 0.15)",
    )
    split.add_argument(
        "--names",
        nargs="+",
        default=["train", "validation", "test"],
        metavar="NAME",
        help="split names, one per fraction (default train validation test)",
    )
    split.add_argument("--seed", type=int, default=0, help="random seed (default %(default)s)")
    split.add_argument("--overwrite", action="store_true", help="replace existing split files")
    split.set_defaults(run=run_split)


def run_split(args: argparse.Namespace) -> None:
    """Read the table, split it, write the split and print its summary."""
    from rcm.data._splits import split_by_patient, write_split
    from rcm.data._table import read_csv_table

    if len(args.fractions) != len(args.names):
        raise InputError(
            None, f"{len(args.fractions)} --fractions but {len(args.names)} --names: give one each"
        )
    rows = read_csv_table(args.table, (args.patient_column,), "table")
    header = list(rows[0])
    id_column = _id_column(args.id_column, header, args.table)
    stratify = _stratify_columns(args, header)
    items, patients, categories = _items(rows, id_column, args.patient_column, stratify, args.table)
    split = split_by_patient(
        items,
        patients,
        categories,
        fractions=list(zip(args.names, args.fractions, strict=True)),
        seed=args.seed,
    )
    options = {
        "id_column": id_column,
        "patient_column": args.patient_column,
        "stratify_columns": list(stratify),
    }
    sidecar = write_split(
        split, args.out, source=args.table, options=options, overwrite=args.overwrite
    )
    print(format_summary(split.summary()))
    print(f"wrote {args.out} and {sidecar}")


def _id_column(chosen: str | None, header: Sequence[str], table: str) -> str:
    if chosen is not None:
        if chosen not in header:
            raise InputError(table, f"table lacks the --id-column {chosen}")
        return chosen
    for column in ID_COLUMNS:
        if column in header:
            return column
    raise InputError(
        table, f"table has none of {', '.join(ID_COLUMNS)}: name its id column with --id-column"
    )


def _stratify_columns(args: argparse.Namespace, header: Sequence[str]) -> tuple[str, ...]:
    """The columns a row's category comes from, the first non-empty one winning."""
    if args.no_stratify:
        return ()
    if args.stratify_column is not None:
        if args.stratify_column not in header:
            raise InputError(
                args.table, f"table lacks the --stratify-column {args.stratify_column}"
            )
        return (args.stratify_column,)
    # A manifest's diagnosis is optional per row; where it is empty the label stands in.
    return tuple(column for column in STRATIFY_COLUMNS if column in header)


def _items(
    rows: Sequence[Mapping[str, str]],
    id_column: str,
    patient_column: str,
    stratify: Sequence[str],
    table: str,
) -> tuple[list[str], list[str], list[str]]:
    """(item ids, patients, categories), one per item; repeated rows of an item must agree."""
    seen: dict[str, tuple[str, str, int]] = {}
    problems = []
    for number, row in enumerate(rows, start=2):
        item = row[id_column]
        category = next((row[c] for c in stratify if row.get(c)), "" if stratify else UNSTRATIFIED)
        if not item or not category:
            empty = id_column if not item else " and ".join(stratify)
            problems.append(f"line {number}: empty {empty}")
            continue
        patient = row[patient_column]
        if item not in seen:
            seen[item] = (patient, category, number)
            continue
        first_patient, first_category, first = seen[item]
        if (patient, category) != (first_patient, first_category):
            problems.append(
                f"line {number}: {item} has patient {patient}, category {category} but line "
                f"{first} has patient {first_patient}, category {first_category}"
            )
    if problems:
        shown = "; ".join(problems[:5])
        more = f"; and {len(problems) - 5} more" if len(problems) > 5 else ""
        raise InputError(table, shown + more)
    ids = list(seen)
    return ids, [seen[i][0] for i in ids], [seen[i][1] for i in ids]


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
