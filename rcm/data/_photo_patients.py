"""The patients table: who each photo shows, for annotation files that do not say.

COCO and VOC files written by other tools rarely carry patient ids, and a
patient-level split needs them. The table is a CSV with columns ``image``
(the photo's path relative to the images root, as in the annotation file) and
``patient_id``, and optionally ``sex`` and ``age`` (an empty cell = not
recorded). Rows for photos the annotation file does not list are ignored, so
one table can serve several annotation files.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

from rcm.data._photo_dataset import MAX_AGE, check_text, decimal_number
from rcm.data._photo_drafts import Patient
from rcm.data._photo_rows import normal_image_path
from rcm.data._problems import listing
from rcm.errors import InputError

PATIENT_COLUMNS = ("image", "patient_id")
OPTIONAL_COLUMNS = ("sex", "age")


def read_patients(path: str | os.PathLike[str], root: Path) -> dict[str, Patient]:
    """Each photo's patient, by image path; `root` is the images root the paths are in.

    Raises:
        InputError: Naming the table: unreadable, a column missing, or listing
            the rows at fault (empty or padded cells, an age that is not 0..150
            years, a photo given two different patients).

    """
    table = Path(path)
    rows = _rows(table)
    found: dict[str, tuple[Patient, int]] = {}
    problems: list[str] = []
    for line, row in rows:
        try:
            image = normal_image_path(row["image"], root)
            patient = _patient(row)
        except ValueError as error:
            problems.append(f"line {line}: {error}")
            continue
        if image in found and found[image][0] != patient:
            first, first_line = found[image]
            problems.append(
                f"line {line}: {image} has patient {patient.patient_id} but line {first_line} "
                f"has {first.patient_id}"
                + ("" if first.patient_id != patient.patient_id else " with another sex or age")
            )
            continue
        found.setdefault(image, (patient, line))
    if problems:
        raise InputError(table, listing(problems))
    return {image: patient for image, (patient, _) in found.items()}


def _rows(table: Path) -> list[tuple[int, dict[str, str]]]:
    try:
        with table.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            header = [name.strip() for name in reader.fieldnames or []]
            missing = [c for c in PATIENT_COLUMNS if c not in header]
            if missing:
                shown = ", ".join(header) or "nothing"
                raise InputError(
                    table,
                    f"patients table lacks column(s) {', '.join(missing)} (needs image, "
                    f"patient_id, optionally sex, age; the header has {shown})",
                )
            reader.fieldnames = header
            rows = [
                (reader.line_num, {k: (v or "").strip() for k, v in row.items() if k})
                for row in reader
                if any((v or "").strip() for k, v in row.items() if k)
            ]
    except OSError as error:
        raise InputError(
            table, f"cannot read the patients table: {error.strerror or error}"
        ) from error
    except (csv.Error, UnicodeDecodeError) as error:
        raise InputError(table, f"not a readable CSV patients table ({error})") from error
    if not rows:
        raise InputError(table, "the patients table has no rows")
    return rows


def _patient(row: dict[str, str]) -> Patient:
    patient_id = row["patient_id"]
    if not patient_id:
        raise ValueError("empty patient_id")
    check_text(patient_id, "a patient id")
    sex = row.get("sex") or None
    age_text = row.get("age") or ""
    age = None if not age_text else float(decimal_number(age_text, "age"))
    if age is not None and not 0 <= age <= MAX_AGE:
        raise ValueError(f"age {age_text!r} is not 0..{MAX_AGE} years")
    return Patient(patient_id, sex, age)
