"""The evaluate stage for a photo run: its outputs scored against the expert truth.

`evaluate_photo_outputs` reads one photo inference output folder (summary.json,
predictions.csv, instances.json for a detector), the truth (a COCO file or a
VOC folder, optionally one part of a split) and clinicians' reads, scores them
and writes the evaluation folder (metrics.json and report.html) atomically. It
never prints: the problems it found come back in the result, or in the error
when they stop it. `is_photo_output` tells a photo run's folder from a folder
of mosaic outputs, so ``rcm evaluate`` can dispatch.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rcm._fields import POSITIVE, UNIT, Option, Range, check_fields, described
from rcm._version import __version__
from rcm.errors import InputError
from rcm.io import atomic_output, check_output, file_checksum
from rcm.models import PHOTO_TASKS
from rcm.outputs import (
    SUMMARY,
    InputProblem,
    Interval,
    PhotoCounts,
    PhotoEvaluationDocument,
    PhotoEvaluationSettings,
)

if TYPE_CHECKING:
    from rcm.report import PhotoCohort, PhotoReads

# rcm.report (scikit-learn, matplotlib) is imported when an evaluation runs.

__all__ = [
    "PhotoEvaluateOptions",
    "PhotoEvaluationInputError",
    "PhotoEvaluationResult",
    "evaluate_photo_outputs",
    "is_photo_output",
]


@dataclass(frozen=True)
class PhotoEvaluateOptions:
    """How a photo run is scored.

    Attributes:
        bootstrap: Patient-level bootstrap resamples of every interval.
        seed: Seed of the resamples.
        target_sensitivity: Sensitivity of the operating point chosen for it.
        target_specificity: Specificity of the operating point chosen for it.
        reader_threshold: A reader's score at or above this is a positive call.
        strict: Warnings about the inputs stop the evaluation, as errors do.
        examples: Photos drawn in the report with their boxes.

    """

    bootstrap: int = described(2000, Option("bootstrap resamples", POSITIVE))
    seed: int = described(0, Option("seed of the resamples"))
    target_sensitivity: float = described(
        0.8, Option("sensitivity of the operating point chosen for it", UNIT)
    )
    target_specificity: float = described(
        0.8, Option("specificity of the operating point chosen for it", UNIT)
    )
    reader_threshold: float = described(
        0.5, Option("reader score counted as a positive call", UNIT)
    )
    strict: bool = described(False, Option("treat warnings as errors"))
    examples: int = described(8, Option("photos drawn in the report (photo runs)", Range(0, 100)))

    def __post_init__(self) -> None:
        check_fields(self)
        if not isinstance(self.strict, bool):
            raise ValueError(f"strict must be true or false, got {self.strict!r}")

    @property
    def settings(self) -> PhotoEvaluationSettings:
        """The options that change the numbers, as metrics.json records them."""
        return PhotoEvaluationSettings(
            self.bootstrap,
            self.seed,
            self.target_sensitivity,
            self.target_specificity,
            self.reader_threshold,
        )


class PhotoEvaluationInputError(InputError):
    """Problems with the inputs stopped the evaluation; `problems` lists all of them."""

    def __init__(
        self, path: str | os.PathLike[str], reason: str, problems: Sequence[InputProblem]
    ) -> None:
        super().__init__(path, reason)
        self.problems = tuple(problems)


@dataclass(frozen=True)
class PhotoEvaluationResult:
    """What the photo evaluate stage wrote.

    Attributes:
        document: The content of metrics.json.
        metrics_path: metrics.json in the evaluation folder.
        report_path: report.html in the evaluation folder.
        problems: Warnings about the inputs (errors stop the stage instead).

    """

    document: PhotoEvaluationDocument
    metrics_path: Path
    report_path: Path
    problems: tuple[InputProblem, ...]


def is_photo_output(path: str | os.PathLike[str]) -> bool:
    """Whether `path` is a photo run's folder: its summary.json names a photo task."""
    summary = Path(path) / SUMMARY
    try:
        task = json.loads(summary.read_text(encoding="utf-8")).get("task")
    except (OSError, ValueError, AttributeError):
        return False
    return task in {str(task) for task in PHOTO_TASKS}


def evaluate_photo_outputs(
    output: str | os.PathLike[str],
    truth: str | os.PathLike[str],
    out: str | os.PathLike[str],
    options: PhotoEvaluateOptions = PhotoEvaluateOptions(),
    *,
    readers: str | os.PathLike[str] | None = None,
    split: str | os.PathLike[str] | None = None,
    part: str | None = None,
    images_root: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
) -> PhotoEvaluationResult:
    """Score the photo run in `output` against `truth`; write the folder `out`.

    Args:
        output: The ``rcm infer`` output folder of a photo set.
        truth: The expert boxes: a COCO file or a VOC folder.
        out: The evaluation folder to write (metrics.json, report.html).
        options: How the run is scored.
        readers: Clinicians' reads (CSV: reader, image, category or score_<category>).
        split: A split file; only its `part` is evaluated.
        part: The part of `split` (default ``test``).
        images_root: The folder the truth's image paths are relative to.
        overwrite: Replace an existing `out`.

    Raises:
        PhotoEvaluationInputError: If the inputs have errors (or warnings, with
            ``options.strict``); it carries every problem found.
        InputError: If a file cannot be read, the run's categories are not the
            truth's, or `out` exists without `overwrite`.

    """
    from rcm.metrics import PatientBootstrap
    from rcm.report import load_photo_cohort, load_photo_reads, photo_examples, write_photo_report

    if part is not None and split is None:
        raise InputError(None, "a part (--part) needs the split file it is part of (--split)")
    check_output(out, overwrite=overwrite)  # before the work, and before any warning is lost
    cohort = load_photo_cohort(output, truth, split=split, part=part, images_root=images_root)
    problems = list(cohort.problems)
    reads = (
        load_photo_reads(readers, cohort, problems, threshold=options.reader_threshold)
        if readers is not None
        else None
    )
    _refuse_failing(problems, options, output)
    if len(cohort.records) == 0:
        raise PhotoEvaluationInputError(output, "no photo left to evaluate", problems)
    bootstrap = PatientBootstrap.draw(cohort.patients, options.bootstrap, options.seed)
    metrics = _metrics(cohort, reads, bootstrap, options)
    examples = photo_examples(cohort, options.examples, problems)
    _refuse_failing(problems, options, output)
    document = _document(metrics, cohort, problems, options, readers)
    with atomic_output(out, overwrite=overwrite) as folder:
        folder.mkdir()
        document.write(folder / "metrics.json")
        write_photo_report(folder / "report.html", document.to_json(), examples, problems)
    return PhotoEvaluationResult(
        document, Path(out) / "metrics.json", Path(out) / "report.html", tuple(problems)
    )


def _metrics(
    cohort: PhotoCohort,
    reads: PhotoReads | None,
    bootstrap: Any,
    options: PhotoEvaluateOptions,
) -> Any:
    """Every metric block of the cohort (classification, calibration, detection, readers)."""
    from rcm.report import evaluate_photo_cohort, photo_detection_metrics, photo_reader_metrics

    metrics = evaluate_photo_cohort(
        cohort,
        bootstrap,
        target_sensitivity=options.target_sensitivity,
        target_specificity=options.target_specificity,
    )
    if cohort.is_detector:
        metrics.blocks.update(photo_detection_metrics(cohort))
    if reads is not None:
        metrics.blocks["readers"] = photo_reader_metrics(cohort, reads)
    return metrics


def _document(
    metrics: Any,
    cohort: PhotoCohort,
    problems: list[InputProblem],
    options: PhotoEvaluateOptions,
    readers: str | os.PathLike[str] | None,
) -> PhotoEvaluationDocument:
    """metrics.json: the metrics with the checksums of the inputs, problems, options, versions."""
    inputs = dict(cohort.checksums)
    if readers is not None:
        inputs["readers"] = file_checksum(readers)
    aurocs = metrics.aurocs
    return PhotoEvaluationDocument(
        task=str(cohort.summary.task),
        categories=cohort.categories,
        labels=cohort.labels,  # type: ignore[arg-type]
        counts=PhotoCounts(
            images=len(cohort.records),
            patients=len(set(cohort.patients.tolist())),
            boxes=cohort.box_count,
            crowd_boxes=cohort.crowd_count,
            single_category_images=int((cohort.truth.sum(axis=1) == 1).sum()),
        ),
        auroc={name: _typed(value) for name, value in aurocs.by_name().items()},
        macro_auroc=_typed(aurocs.macro),
        micro_auroc=_typed(aurocs.micro),
        probabilities=metrics.probabilities,
        inputs=inputs,
        problems=tuple(problems),
        options=options.settings,
        versions={"rcm": __version__},
        part=cohort.part,
        metrics=metrics.blocks,
    )


def _typed(value: Any) -> Interval | None:
    """A metrics interval as metrics.json's typed one."""
    return None if value is None else Interval(**vars(value))


def _refuse_failing(
    problems: Sequence[InputProblem], options: PhotoEvaluateOptions, output: str | os.PathLike[str]
) -> None:
    """Errors (and warnings, when strict) stop the evaluation, carrying every problem."""
    failing = [p for p in problems if p.severity == "error" or options.strict]
    if failing:
        raise PhotoEvaluationInputError(
            output,
            f"{len(failing)} problem(s) with the inputs (listed above)"
            + ("; --strict counts warnings" if options.strict else ""),
            list(problems),
        )
