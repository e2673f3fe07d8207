"""A photo cohort to evaluate: one photo run's outputs joined to the expert truth.

The run is one folder (``summary.json``, ``predictions.csv`` and, for a
detector, ``instances.json``); the truth a COCO file or a VOC folder
(`rcm.data.read_photo_source`), optionally restricted to one part of a split.
Photos are matched by their ``image`` path. A photo's truth for a category is
whether it has a non-crowd box of that category.

Every mismatch is collected as an `InputProblem` naming the file and line:
photos of the truth without a prediction (unless the run skipped them as
unreadable: a warning) and predictions of photos the truth does not have are
errors, as are sizes that disagree and detections of unknown photos or
categories. Categories that differ between the run and the
truth stop at once (`InputError`): nothing could be compared.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rcm.data import PhotoRecord, PhotoSource, read_photo_source
from rcm.errors import InputError
from rcm.io import file_checksum
from rcm.models import Task
from rcm.outputs import (
    INSTANCES,
    PREDICTIONS,
    SUMMARY,
    DetectionResults,
    InputProblem,
    PhotoPredictions,
    PhotoRunSummary,
)
from rcm.report._photo_truth import (
    TruthBoxes,
    split_part,
    truth_labels,
    upright_boxes,
)


@dataclass(frozen=True)
class Detections:
    """One photo's model boxes: ``(m, 4)`` xyxy upright, scores, 0-based category labels."""

    boxes: np.ndarray
    scores: np.ndarray
    labels: np.ndarray


@dataclass(frozen=True)
class PhotoCohort:
    """The evaluated photos: truth and model outputs as arrays in one photo order.

    Attributes:
        output: The run's folder.
        summary: Its summary.json.
        source: The truth and where its photos are.
        categories: The model's categories (column order of every table).
        labels: ``single`` (softmax) or ``multi`` (sigmoid; detectors).
        records: The evaluated photos' truth records.
        patients: ``(n,)`` patient of each photo.
        truth: ``(n, C)`` the photo has a non-crowd box of the category.
        scores: ``(n, C)`` raw probabilities.
        calibrated: ``(n, C)`` calibrated probabilities, None when the run has none.
        sizes: ``(n, 2)`` upright ``width, height`` the run recorded.
        boxes: Per photo, its expert boxes in upright pixels (detectors only).
        detections: Per photo, the model's boxes (detectors only).
        part: The split part evaluated, None for the whole set.
        checksums: sha256 of each file read, by name.
        problems: What was wrong with the inputs.
        box_count: Expert boxes of the evaluated photos (crowd regions not counted).
        crowd_count: Crowd regions on them.

    """

    output: Path
    summary: PhotoRunSummary
    source: PhotoSource
    categories: tuple[str, ...]
    labels: str
    records: tuple[PhotoRecord, ...]
    patients: np.ndarray
    truth: np.ndarray
    scores: np.ndarray
    calibrated: np.ndarray | None
    sizes: np.ndarray
    boxes: tuple[TruthBoxes, ...] | None
    detections: tuple[Detections, ...] | None
    part: str | None
    checksums: dict[str, str]
    problems: tuple[InputProblem, ...]
    box_count: int = 0
    crowd_count: int = 0

    @property
    def images(self) -> tuple[str, ...]:
        return tuple(record.image for record in self.records)

    @property
    def is_detector(self) -> bool:
        return self.summary.task == Task.PHOTO_DETECTOR


def load_photo_cohort(
    output: str | os.PathLike[str],
    truth: str | os.PathLike[str],
    *,
    split: str | os.PathLike[str] | None = None,
    part: str | None = None,
    images_root: str | os.PathLike[str] | None = None,
) -> PhotoCohort:
    """Read a photo run and its truth and match them photo by photo.

    Raises:
        InputError: If a file is unreadable, or the run's categories are not the truth's.

    """
    folder = Path(output)
    summary = PhotoRunSummary.read(folder / SUMMARY)
    predictions = PhotoPredictions.read(folder / PREDICTIONS)
    categories = _categories(folder, summary, predictions)
    source = read_photo_source(truth, images_root)
    _check_categories(folder, categories, source)
    problems: list[InputProblem] = []
    records = list(source.dataset.images)
    if split is not None:
        records = split_part(records, Path(split), part or "test", problems)
    rows = _match(folder, records, predictions, summary, problems, restricted=split is not None)
    matched = [record for record in records if record.image in rows]
    order = np.array([rows[record.image] for record in matched], np.int64)
    labelled = [truth_labels(r, categories) for r in matched]
    table = np.zeros((len(matched), len(categories)), bool)
    for number, (labels, crowd) in enumerate(labelled):
        table[number, labels[~crowd]] = True
    cohort_boxes, detections = None, None
    if summary.task == Task.PHOTO_DETECTOR:
        sizes = predictions.sizes[order]
        cohort_boxes = _upright(source, matched, labelled, sizes, problems)
        detections = _detections(folder, predictions, order, len(categories), problems)
    checksums = _checksums(folder, source, split, detections is not None)
    settings = summary.model.settings
    single = summary.task == Task.PHOTO_CLASSIFIER and settings.get("labels") == "single"
    return PhotoCohort(
        output=folder,
        summary=summary,
        source=source,
        categories=categories,
        labels="single" if single else "multi",
        records=tuple(matched),
        patients=np.array([record.patient_id for record in matched]),
        truth=table,
        scores=predictions.probabilities[order],
        calibrated=None if predictions.calibrated is None else predictions.calibrated[order],
        sizes=predictions.sizes[order],
        boxes=cohort_boxes,
        detections=detections,
        part=(part or "test") if split is not None else None,
        checksums=checksums,
        problems=tuple(problems),
        box_count=int(sum((~crowd).sum() for _, crowd in labelled)),
        crowd_count=int(sum(crowd.sum() for _, crowd in labelled)),
    )


def _categories(
    folder: Path, summary: PhotoRunSummary, predictions: PhotoPredictions
) -> tuple[str, ...]:
    """The run's categories: predictions.csv's columns must be the model's categories."""
    if predictions.categories != summary.model.categories:
        raise InputError(
            folder / PREDICTIONS,
            f"columns are for categories ({', '.join(predictions.categories)}), the model in "
            f"{SUMMARY} has ({', '.join(summary.model.categories)})",
        )
    return predictions.categories


def _check_categories(folder: Path, categories: tuple[str, ...], source: PhotoSource) -> None:
    """A COCO truth lists the model's categories; a VOC one (no list) only known ones."""
    known = set(source.dataset.categories)
    voc = source.path.is_dir()
    if (known - set(categories)) if voc else (known != set(categories)):
        raise InputError(
            folder / PREDICTIONS,
            f"categories ({', '.join(categories)}) are not those of the truth {source.path} "
            f"({', '.join(source.dataset.categories)})",
        )


def _match(
    folder: Path,
    records: list[PhotoRecord],
    predictions: PhotoPredictions,
    summary: PhotoRunSummary,
    problems: list[InputProblem],
    *,
    restricted: bool,
) -> dict[str, int]:
    """Row of each truth photo in predictions.csv; every photo on one side only is an error."""
    path = str(folder / PREDICTIONS)
    rows = {image: number for number, image in enumerate(predictions.images)}
    skipped = {item.image: item.reason for item in summary.skipped}
    wanted = {record.image: record for record in records}
    matched: dict[str, int] = {}
    for image, record in wanted.items():
        if image in skipped and image not in rows:
            message = f"skipped by the run ({skipped[image]}); left out"
            problems.append(InputProblem("warning", path, None, image, message))
            continue
        if image not in rows:
            problems.append(InputProblem("error", path, None, image, "no prediction"))
            continue
        row = rows[image]
        width, height = (int(v) for v in predictions.sizes[row])
        if (width, height) not in {(record.width, record.height), (record.height, record.width)}:
            message = f"{width} x {height} pixels, the truth says {record.width} x {record.height}"
            problems.append(InputProblem("error", path, row + 2, image, message))
            continue
        matched[image] = row
    if not restricted:
        for image in sorted(set(rows) - set(wanted)):
            problems.append(InputProblem("error", path, rows[image] + 2, image, "not in the truth"))
    return matched


def _upright(
    source: PhotoSource,
    records: list[PhotoRecord],
    labelled: list[tuple[np.ndarray, np.ndarray]],
    sizes: np.ndarray,
    problems: list[InputProblem],
) -> tuple[TruthBoxes, ...]:
    """Every photo's expert boxes in upright pixels (empty where they cannot be placed)."""
    placed = []
    for record, (labels, crowd), size in zip(records, labelled, sizes, strict=True):
        result = upright_boxes(source, record, labels, crowd, (int(size[0]), int(size[1])))
        if isinstance(result, str):
            problems.append(InputProblem("error", str(source.path), None, record.image, result))
            result = TruthBoxes(np.zeros((0, 4)), np.zeros(0, np.int64), np.zeros(0, bool))
        placed.append(result)
    return tuple(placed)


def _detections(
    folder: Path,
    predictions: PhotoPredictions,
    order: np.ndarray,
    n_categories: int,
    problems: list[InputProblem],
) -> tuple[Detections, ...]:
    """The detector's boxes of each evaluated photo; unknown photos or categories are errors."""
    path = folder / INSTANCES
    if not path.is_file():
        raise InputError(path, "a photo detector's output needs instances.json")
    results = DetectionResults.read(path)
    ids = results.image_ids
    labels = np.array([item["category_id"] for item in results.items], np.int64) - 1
    boxes, scores = results.boxes, results.scores
    bad = np.flatnonzero(~(np.isfinite(boxes).all(axis=1) & np.isfinite(scores)))
    if len(bad):
        raise InputError(path, f"detection {bad[0]} has a box or score that is not finite")
    row_of = {int(value): row for row, value in enumerate(predictions.image_ids)}
    rows = np.array([row_of.get(int(value), -1) for value in ids], np.int64)
    for number in np.flatnonzero(rows < 0)[:20]:
        message = f"detection {number} has image_id {ids[number]}, which predictions.csv lacks"
        problems.append(InputProblem("error", str(path), None, None, message))
    for number in np.flatnonzero((labels < 0) | (labels >= n_categories))[:20]:
        message = f"detection {number} has category_id {labels[number] + 1} (1..{n_categories})"
        problems.append(InputProblem("error", str(path), None, None, message))
    by_row = np.argsort(rows, kind="stable")
    starts = np.searchsorted(rows[by_row], order, side="left")
    ends = np.searchsorted(rows[by_row], order, side="right")
    found = []
    for start, end in zip(starts, ends, strict=True):
        mine = by_row[start:end]
        found.append(Detections(boxes[mine], scores[mine], labels[mine]))
    return tuple(found)


def _checksums(
    folder: Path, source: PhotoSource, split: str | os.PathLike[str] | None, detector: bool
) -> dict[str, str]:
    """Checksums of what was read; for a VOC truth its Annotations folder (not the photos)."""
    truth = source.path / "Annotations" if source.path.is_dir() else source.path
    checksums = {"truth": file_checksum(truth), SUMMARY: file_checksum(folder / SUMMARY)}
    checksums[PREDICTIONS] = file_checksum(folder / PREDICTIONS)
    if detector:
        checksums[INSTANCES] = file_checksum(folder / INSTANCES)
    if split is not None:
        checksums["split"] = file_checksum(split)
    return checksums
