"""The evaluate stage: a cohort of `rcm infer` outputs scored against the truth.

`evaluate_outputs` reads the outputs and the manifest (and clinicians' reads, and
a second model's outputs), scores them and writes the evaluation folder
(metrics.json and report.html) atomically. It never prints: the problems it
found come back in the result, or in the error when they stop it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rcm._fields import POSITIVE, UNIT, Option, check_fields, described
from rcm._version import __version__
from rcm.errors import InputError
from rcm.io import atomic_output, check_output, file_checksum
from rcm.outputs import EvaluationDocument, EvaluationSettings, Problem

if TYPE_CHECKING:
    from rcm.report import Cohort

# rcm.report (scikit-learn, matplotlib) is imported when an evaluation runs, so the
# options can be imported at command-line start.

__all__ = ["EvaluateOptions", "EvaluationInputError", "EvaluationResult", "evaluate_outputs"]


@dataclass(frozen=True)
class EvaluateOptions:
    """How a cohort is scored.

    Attributes:
        bootstrap: Patient-level bootstrap resamples of every interval.
        seed: Seed of the resamples.
        target_sensitivity: Sensitivity of the operating point chosen for it.
        target_specificity: Specificity of the operating point chosen for it.
        reader_threshold: A reader's score at or above this is a positive call.
        strict: Warnings about the inputs stop the evaluation, as errors do.

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

    def __post_init__(self) -> None:
        check_fields(self)
        if not isinstance(self.strict, bool):
            raise ValueError(f"strict must be true or false, got {self.strict!r}")

    @property
    def settings(self) -> EvaluationSettings:
        """The options that change the numbers, as metrics.json records them."""
        return EvaluationSettings(
            self.bootstrap, self.seed, self.target_sensitivity, self.target_specificity
        )


class EvaluationInputError(InputError):
    """Problems with the inputs stopped the evaluation; `problems` lists all of them."""

    def __init__(
        self, path: str | os.PathLike[str], reason: str, problems: Sequence[Problem]
    ) -> None:
        super().__init__(path, reason)
        self.problems = tuple(problems)


@dataclass(frozen=True)
class EvaluationResult:
    """What the evaluate stage wrote.

    Attributes:
        document: The content of metrics.json.
        metrics_path: metrics.json in the evaluation folder.
        report_path: report.html in the evaluation folder.
        problems: Warnings about the inputs (errors stop the stage instead).

    """

    document: EvaluationDocument
    metrics_path: Path
    report_path: Path
    problems: tuple[Problem, ...]


def evaluate_outputs(
    outputs: str | os.PathLike[str],
    truth: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    options: EvaluateOptions = EvaluateOptions(),
    readers: str | os.PathLike[str] | None = None,
    compare: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
) -> EvaluationResult:
    """Score the outputs under `outputs` against the manifest `truth`; write the folder `out`.

    Args:
        outputs: Folder with one `rcm infer` output folder per mosaic.
        truth: Ground-truth manifest CSV (mosaic_id, patient_id, label...).
        out: The evaluation folder to write (metrics.json, report.html).
        options: How the cohort is scored.
        readers: Clinicians' reads (CSV with reader, mosaic_id, call), to compare with.
        compare: Outputs of a second model on the same mosaics, to test against.
        overwrite: Replace an existing `out`.

    Raises:
        EvaluationInputError: If the inputs have errors (or warnings, with
            ``options.strict``); it carries every problem found.
        InputError: If a file cannot be read, or `out` exists without `overwrite`.

    """
    from rcm.report import evaluate_cohort, load_cohort, load_reads, write_report

    check_output(out, overwrite=overwrite)  # before the work, and before any warning is lost
    cohort = load_cohort(outputs, truth)
    problems = list(cohort.problems)
    reads = (
        load_reads(readers, cohort, problems, threshold=options.reader_threshold)
        if readers is not None
        else None
    )
    _refuse_failing(problems, options, truth)
    metrics = evaluate_cohort(
        cohort,
        reads=reads,
        n_resamples=options.bootstrap,
        seed=options.seed,
        target_sensitivity=options.target_sensitivity,
        target_specificity=options.target_specificity,
    )
    if compare is not None:
        metrics["comparison"] = _comparison(cohort, compare, truth, options)
    document = _document(metrics, cohort, problems, options, readers)
    with atomic_output(out, overwrite=overwrite) as folder:
        folder.mkdir()
        document.write(folder / "metrics.json")
        write_report(folder / "report.html", metrics, cohort)
    return EvaluationResult(
        document, Path(out) / "metrics.json", Path(out) / "report.html", tuple(problems)
    )


def _comparison(
    cohort: Cohort,
    compare: str | os.PathLike[str],
    truth: str | os.PathLike[str],
    options: EvaluateOptions,
) -> dict[str, Any]:
    """The second model's outputs on the same truth, tested against the first."""
    from rcm.report import compare_cohorts, load_cohort

    second = load_cohort(compare, truth)
    return {
        "other": str(compare),
        **compare_cohorts(cohort, second, n_resamples=options.bootstrap, seed=options.seed),
    }


def _document(
    metrics: dict[str, Any],
    cohort: Cohort,
    problems: list[Problem],
    options: EvaluateOptions,
    readers: str | os.PathLike[str] | None,
) -> EvaluationDocument:
    """metrics.json: the metrics with the checksums of the inputs, problems, options, versions."""
    inputs = dict(cohort.checksums)
    if readers is not None:
        inputs["readers"] = file_checksum(readers)
    return EvaluationDocument.from_json(
        {
            **metrics,
            "inputs": inputs,
            "problems": [vars(problem) for problem in problems],
            "options": vars(options.settings),
            "versions": {"rcm": __version__},
        }
    )


def _refuse_failing(
    problems: Sequence[Problem], options: EvaluateOptions, truth: str | os.PathLike[str]
) -> None:
    """Errors (and warnings, when strict) stop the evaluation, carrying every problem."""
    failing = [p for p in problems if p.severity == "error" or options.strict]
    if failing:
        raise EvaluationInputError(
            truth,
            f"{len(failing)} problem(s) with the inputs (listed above)"
            + ("; --strict counts warnings" if options.strict else ""),
            list(problems),
        )
