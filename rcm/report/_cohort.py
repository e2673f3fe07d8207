"""A cohort to evaluate: per-mosaic outputs of `rcm infer` joined to a ground-truth manifest.

The manifest is a CSV with columns ``mosaic_id``, ``patient_id`` and ``label``,
and optionally ``mask``: an expert lesion mask (OME-Zarr label image, any
non-zero pixel is lesion; a path relative to the manifest) for tile-level and
pixel-level metrics, and ``coco``: expert boxes (a COCO file with one image) for
detection metrics. Other columns are kept but not used. Each output folder is matched by its
name without the ``.rcm`` suffix. Every problem is collected, none is silently
dropped: duplicate ids and unknown labels are errors; missing predictions and
outputs without labels are warnings (``--strict`` makes them errors).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rcm.data import NEGATIVE_LABELS, POSITIVE_LABELS, read_csv_table
from rcm.errors import InputError
from rcm.io import file_checksum
from rcm.outputs import SUMMARY, MosaicSummary, OutputFormatError, Problem

REQUIRED_COLUMNS = ("mosaic_id", "patient_id", "label")
__all__ = [
    "Case",
    "Cohort",
    "Outputs",
    "Problem",
    "Reads",
    "label_truth",
    "load_cohort",
    "load_reads",
]


@dataclass(frozen=True)
class Case:
    """One mosaic with its truth and the classifier's outputs."""

    mosaic_id: str
    patient_id: str
    label: str
    positive: bool
    score: float
    decision: str
    output: Path
    mask: Path | None = None  # expert lesion mask (OME-Zarr label image), when given
    coco: Path | None = None  # expert boxes (COCO file with one image), when given
    diagnosis: str | None = None  # finer class than `label` (e.g. one of 14 diagnoses)
    probability: float | None = None  # calibrated probability of the score, when calibrated
    model_checksum: str = ""  # checksum of the model file that made the output
    calibration_method: str | None = None  # the model's calibration, when calibrated


@dataclass(frozen=True)
class Cohort:
    """Matched cases, the problems found, and checksums of what was read."""

    cases: tuple[Case, ...]
    problems: tuple[Problem, ...]
    threshold: float | None
    coverage: float | None
    checksums: dict[str, str]


def label_truth(label: str) -> bool | None:
    """True for a positive label, False for a negative one, None for neither.

    The words are those of the training manifest (`rcm.data._labelled`), in any case.
    """
    word = label.lower()
    if word in POSITIVE_LABELS:
        return True
    return False if word in NEGATIVE_LABELS else None


Outputs = str | os.PathLike[str] | Sequence[str | os.PathLike[str]]


def load_cohort(outputs: Outputs, manifest: str | os.PathLike[str]) -> Cohort:
    """Read the manifest and the outputs' summaries, and match them.

    Args:
        outputs: A folder holding output folders (each ``*/summary.json``), or
            several such folders or output folders themselves.
        manifest: The ground-truth manifest.

    """
    problems: list[Problem] = []
    truth = _manifest_rows(manifest, problems)
    summaries = _read_summaries(_as_paths(outputs), problems)
    checksums = {"manifest": file_checksum(manifest)}
    cases: list[Case] = []
    for mosaic_id, row in sorted(truth.items()):
        positive = label_truth(row["label"])
        if positive is None:
            problems.append(_unknown_label(mosaic_id, row["label"]))
        elif mosaic_id not in summaries:
            problems.append(
                Problem(
                    "warning",
                    mosaic_id,
                    "no prediction (no output folder with summary.json); left out",
                )
            )
        else:
            folder, summary = summaries[mosaic_id]
            checksums[f"{mosaic_id}/{SUMMARY}"] = file_checksum(folder / SUMMARY)
            cases.append(_case(row, positive, folder, summary, Path(manifest).parent, problems))
    for mosaic_id in sorted(set(summaries) - set(truth)):
        problems.append(
            Problem("warning", mosaic_id, "has outputs but no label in the manifest; left out")
        )
    matched = [summaries[case.mosaic_id][1] for case in cases]
    thresholds = {summary.verdict.threshold for summary in matched}
    coverages = {summary.verdict.coverage_fraction for summary in matched}
    if len(thresholds) > 1 or len(coverages) > 1:
        problems.append(
            Problem(
                "error",
                None,
                "outputs were made with different thresholds or "
                "coverage fractions; evaluate them separately",
            )
        )
    return Cohort(
        tuple(cases),
        tuple(problems),
        next(iter(thresholds)) if len(thresholds) == 1 else None,
        next(iter(coverages)) if len(coverages) == 1 else None,
        checksums,
    )


def _manifest_rows(
    manifest: str | os.PathLike[str], problems: list[Problem]
) -> dict[str, dict[str, str]]:
    """The manifest's rows by mosaic id; a repeated id is an error, its later rows dropped."""
    truth: dict[str, dict[str, str]] = {}
    for row in read_csv_table(manifest, REQUIRED_COLUMNS):
        mosaic_id = row["mosaic_id"]
        if mosaic_id in truth:
            other = truth[mosaic_id]["patient_id"]
            detail = (
                f" (patients {other} and {row['patient_id']})" if other != row["patient_id"] else ""
            )
            problems.append(Problem("error", mosaic_id, f"listed twice in the manifest{detail}"))
            continue
        truth[mosaic_id] = row
    return truth


def _unknown_label(mosaic_id: str, label: str) -> Problem:
    return Problem(
        "error",
        mosaic_id,
        f"label {label!r} is neither a positive ({', '.join(POSITIVE_LABELS)}) "
        "nor a negative label",
    )


def _case(
    row: dict[str, str],
    positive: bool,
    folder: Path,
    summary: MosaicSummary,
    base: Path,
    problems: list[Problem],
) -> Case:
    """The case of one manifest row matched to its output."""
    mosaic_id = row["mosaic_id"]
    return Case(
        mosaic_id,
        row["patient_id"],
        row["label"],
        positive,
        summary.score,
        summary.decision,
        folder,
        _mask_path(row.get("mask"), base, mosaic_id, problems),
        _mask_path(row.get("coco"), base, mosaic_id, problems),
        row.get("diagnosis") or None,
        summary.probability,
        summary.model.checksum,
        summary.model.calibration_method,
    )


@dataclass(frozen=True)
class Reads:
    """Clinicians' binary calls: one entry per (reader, mosaic)."""

    readers: tuple[str, ...]
    mosaic_ids: tuple[str, ...]
    calls: tuple[bool, ...]


def load_reads(
    path: str | os.PathLike[str],
    cohort: Cohort,
    problems: list[Problem],
    *,
    threshold: float = 0.5,
) -> Reads:
    """Read a CSV with ``reader``, ``mosaic_id`` and ``call``; unknown calls are errors.

    A call is a positive or negative label (`label_truth`), or a score in [0, 1]
    that counts as positive at or above `threshold`.
    """
    rows = read_csv_table(path, ("reader", "mosaic_id", "call"), "reads")
    known = {case.mosaic_id for case in cohort.cases}
    readers, ids, calls = [], [], []
    for row in rows:
        score = _as_score(row["call"].lower())
        positive = label_truth(row["call"]) if score is None else score >= threshold
        if positive is None:
            problems.append(
                Problem(
                    "error",
                    row["mosaic_id"],
                    f"reader {row['reader']}: call "
                    f"{row['call']!r} is neither positive nor negative",
                )
            )
            continue
        if row["mosaic_id"] not in known:
            problems.append(
                Problem(
                    "warning",
                    row["mosaic_id"],
                    f"read by {row['reader']} but not in the evaluated cohort; left out",
                )
            )
            continue
        readers.append(row["reader"])
        ids.append(row["mosaic_id"])
        calls.append(positive)
    return Reads(tuple(readers), tuple(ids), tuple(calls))


def _as_score(text: str) -> float | None:
    """A reader's score in [0, 1], or None when the call is a word."""
    try:
        value = float(text)
    except ValueError:
        return None
    return value if 0.0 <= value <= 1.0 and text not in ("0", "1") else None


def _mask_path(
    value: str | None, base: Path, mosaic_id: str, problems: list[Problem]
) -> Path | None:
    """An optional ground-truth path column (``mask``, ``coco``), relative to the manifest."""
    if not value:
        return None
    path = Path(value) if Path(value).is_absolute() else base / value
    if not path.exists():
        problems.append(Problem("error", mosaic_id, f"ground truth {path} not found"))
        return None
    return path


def _as_paths(outputs: Outputs) -> list[Path]:
    if isinstance(outputs, str | os.PathLike):
        return [Path(outputs)]
    return [Path(path) for path in outputs]


def _summary_files(outputs: list[Path]) -> list[Path]:
    """The summary.json of each output folder given, or of each folder under one."""
    files = []
    for place in outputs:
        if (place / SUMMARY).is_file():
            files.append(place / SUMMARY)
        elif place.is_dir():
            files.extend(sorted(place.glob(f"*/{SUMMARY}")))
        else:
            raise InputError(place, "outputs folder not found")
    return files


def _read_summaries(
    outputs: list[Path], problems: list[Problem]
) -> dict[str, tuple[Path, MosaicSummary]]:
    """Every output folder's summary by mosaic id; unreadable ones are error problems."""
    found: dict[str, tuple[Path, MosaicSummary]] = {}
    for path in _summary_files(outputs):
        folder = path.parent
        mosaic_id = folder.name.removesuffix(".rcm")
        if mosaic_id in found:
            other = found[mosaic_id][0]
            problems.append(Problem("error", mosaic_id, f"has two outputs, {other} and {folder}"))
            continue
        try:
            summary = MosaicSummary.read(path)
        except OutputFormatError as error:
            problems.append(Problem("error", mosaic_id, f"unreadable {path} ({error.reason})"))
            continue
        if summary.status == "no_tissue":
            problems.append(Problem("warning", mosaic_id, "no tissue found; scored 0"))
        found[mosaic_id] = (folder, summary)
    return found
