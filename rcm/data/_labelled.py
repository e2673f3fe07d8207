"""Labelled mosaics for training: a CSV manifest of mosaics, patients, diagnoses and masks.

The training manifest extends the evaluation manifest of ``rcm evaluate``:
columns ``mosaic_id``, ``patient_id``, ``label`` (a positive or negative word,
as for evaluation) and ``mosaic`` (the mosaic file), and optionally ``mask``
(an expert lesion mask, OME-Zarr label image: 0 = no lesion, other values are
lesion classes; unlabelled area counts as benign) and ``diagnosis`` (a finer
class, used to stratify splits). Paths are relative to the manifest.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from rcm.data._problems import listing
from rcm.data._table import read_csv_table
from rcm.errors import InputError

POSITIVE_LABELS = ("1", "true", "yes", "positive", "suspicious", "malignant")
NEGATIVE_LABELS = ("0", "false", "no", "negative", "benign", "not suspicious")
TRAINING_COLUMNS = ("mosaic_id", "patient_id", "label", "mosaic")


@dataclass(frozen=True)
class LabelledMosaic:
    """One mosaic with its patient, mosaic-level label and optional lesion mask."""

    mosaic_id: str
    patient_id: str
    label: str
    positive: bool
    mosaic: Path
    mask: Path | None = None
    diagnosis: str | None = None

    @property
    def category(self) -> str:
        """What splits are stratified by: the diagnosis when given, else the label."""
        return self.diagnosis or ("positive" if self.positive else "negative")


def read_labelled_mosaics(manifest: str | os.PathLike[str]) -> list[LabelledMosaic]:
    """Read a training manifest; every problem raises, naming the line.

    Raises:
        InputError: On missing columns, duplicate ids, unknown labels, or mosaic and
            mask files that do not exist.

    """
    base = Path(manifest).parent
    rows = read_csv_table(manifest, TRAINING_COLUMNS, "training manifest")
    problems: list[str] = []
    seen: set[str] = set()
    mosaics = []
    for number, row in enumerate(rows, start=2):
        mosaic_id = row["mosaic_id"]
        if mosaic_id in seen:
            problems.append(f"line {number}: mosaic {mosaic_id} is listed twice")
            continue
        seen.add(mosaic_id)
        label = row["label"]
        if label.lower() not in POSITIVE_LABELS + NEGATIVE_LABELS:
            problems.append(
                f"line {number}: label {label!r} is neither positive "
                f"({', '.join(POSITIVE_LABELS)}) nor negative ({', '.join(NEGATIVE_LABELS)})"
            )
            continue
        paths: dict[str, Path | None] = {}
        for column in ("mosaic", "mask"):
            value = row.get(column) or ""
            path = (Path(value) if Path(value).is_absolute() else base / value) if value else None
            if path is not None and not path.exists():
                problems.append(f"line {number}: {column} {path} not found")
            paths[column] = path
        mosaic_path = paths["mosaic"]
        assert mosaic_path is not None  # a required column, checked non-empty
        mosaics.append(
            LabelledMosaic(
                mosaic_id,
                row["patient_id"],
                label,
                label.lower() in POSITIVE_LABELS,
                mosaic_path,
                paths["mask"],
                row.get("diagnosis") or None,
            )
        )
    if problems:
        raise InputError(manifest, listing(problems))
    return mosaics
