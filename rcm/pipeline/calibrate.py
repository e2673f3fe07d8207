"""The calibrate stage: a mosaic model's score made a probability on the validation split.

`calibrate_model` reads the `rcm infer` outputs of the validation mosaics and
the truth (`rcm.report.load_cohort`: the label rule of `rcm evaluate`), checks
that this very model file made them (its checksum in every summary.json) and
that none of them is a mosaic the model was trained on or held out for testing,
fits Platt or isotonic scaling of the mosaic score, and writes a new model file
with the same weights and the calibration in its metadata. The original file is
never touched. Photo models are calibrated in training (temperature scaling).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

import numpy as np

from rcm._version import __version__
from rcm.errors import InputError
from rcm.io import check_output, file_checksum
from rcm.models import MOSAIC_TASKS, Calibration, ModelMeta
from rcm.outputs import Problem
from rcm.pipeline.evaluate import EvaluationInputError

if TYPE_CHECKING:
    from rcm.models import ModelStore
    from rcm.report import Case, Cohort, Outputs

# rcm.report, the model store and the model files (torch) are imported when a
# calibration runs, so the command line starts fast.

MosaicMethod = Literal["platt", "isotonic"]
MOSAIC_METHODS: tuple[str, ...] = get_args(MosaicMethod)
TRAIN_PART = "train"
__all__ = ["MOSAIC_METHODS", "CalibrationResult", "MosaicMethod", "calibrate_model"]


@dataclass(frozen=True)
class CalibrationResult:
    """What the calibrate stage fitted and wrote.

    Attributes:
        calibration: The fitted calibration (also in the new file's metadata).
        path: The calibrated model file (in the store when `name` is set).
        name: Its name in the model store, or None when written to a file.
        source: The model file that was calibrated (unchanged).
        positive: Positive mosaics it was fitted on.
        negative: Negative mosaics it was fitted on.
        brier: Brier score of the calibrated probabilities on those mosaics.
        expected_calibration_error: Their expected calibration error.
        problems: Warnings about the inputs (errors stop the stage instead).

    """

    calibration: Calibration
    path: Path
    name: str | None
    source: Path
    positive: int
    negative: int
    brier: float
    expected_calibration_error: float
    problems: tuple[Problem, ...]

    @property
    def cases(self) -> int:
        """Mosaics the calibration was fitted on."""
        return self.positive + self.negative


def calibrate_model(
    model: str | os.PathLike[str],
    outputs: Outputs,
    truth: str | os.PathLike[str],
    *,
    method: MosaicMethod = "platt",
    split: str | os.PathLike[str] | None = None,
    part: str = "validation",
    out: str | os.PathLike[str] | None = None,
    name: str | None = None,
    store: ModelStore | None = None,
    replace_existing: bool = False,
) -> CalibrationResult:
    """Fit a calibration of `model`'s mosaic score on its outputs; write the calibrated model.

    Args:
        model: The model file that made the outputs.
        outputs: A folder of `rcm infer` output folders, or several folders.
        truth: The ground-truth manifest (mosaic_id, patient_id, label).
        method: ``platt`` (logistic regression on the score) or ``isotonic``.
        split: A split file; every output's mosaic must then be in part `part`.
        part: The split part calibrated on (not the training part).
        out: Write the calibrated model to this file ...
        name: ... or add it to the model store under this name (exactly one of the two).
        store: The model store (default: the one under ``$RCM_HOME``).
        replace_existing: Replace an existing `out` file or store entry `name`.

    Raises:
        InputError: For a photo model, outputs of another model, mosaics of the
            training (or, with `split`, another) part, one class only, or a bad
            destination.
        EvaluationInputError: If the outputs or the manifest have errors; it
            carries every problem found.

    """
    from rcm.models import ModelStore, read_meta

    source, meta = Path(model), read_meta(model)
    _check_request(source, meta, method, out, name, part)
    store = store or ModelStore()
    if out is not None:
        check_output(out, overwrite=replace_existing)
    else:
        store.check_name(str(name), replace=replace_existing)
    cohort = _cohort(outputs, truth)
    _check_cases(source, meta, cohort, truth, split, part)
    scores = np.array([case.score for case in cohort.cases], np.float64)
    positive = np.array([case.positive for case in cohort.cases], bool)
    calibration = _fit(method, scores, positive, cohort.coverage)
    facts = _provenance(source, outputs, truth, split, part, cohort, calibration)
    calibrated = replace(
        meta,
        calibration=calibration.to_dict(),
        provenance={**meta.provenance, "calibration": facts},
    )
    path = _write(source, calibrated, out, name, store, replace_existing)
    return _result(calibration, path, name, source, scores, positive, cohort.problems)


def _cohort(outputs: Outputs, truth: str | os.PathLike[str]) -> Cohort:
    """The outputs joined to the truth as `rcm evaluate` joins them; errors stop here."""
    from rcm.report import load_cohort

    cohort = load_cohort(outputs, truth)
    errors = [problem for problem in cohort.problems if problem.severity == "error"]
    if errors:
        raise EvaluationInputError(
            truth, f"{len(errors)} problem(s) with the inputs (listed above)", cohort.problems
        )
    return cohort


def _check_request(
    source: Path,
    meta: ModelMeta,
    method: str,
    out: str | os.PathLike[str] | None,
    name: str | None,
    part: str,
) -> None:
    """Refuse what cannot be calibrated here before any output is read."""
    if meta.task not in MOSAIC_TASKS:
        raise InputError(
            source,
            f"a {meta.task} is calibrated in training (temperature scaling on its "
            "validation split), not from mosaic outputs",
        )
    if method not in MOSAIC_METHODS:
        raise InputError(None, f"calibration method must be platt or isotonic, got {method!r}")
    if (out is None) == (name is None):
        raise InputError(None, "give either --name (add to the model store) or --out FILE")
    if out is not None:
        target = Path(out)
        if target.suffix.lower() != ".safetensors":
            raise InputError(target, "a calibrated model is written as a .safetensors file")
        if target.exists() and target.resolve() == source.resolve():
            raise InputError(target, "the calibrated model must not replace the model it is from")
    if part == TRAIN_PART:
        raise InputError(
            None, "calibrate on the validation part, never on the mosaics the model trained on"
        )


def _check_cases(
    source: Path,
    meta: ModelMeta,
    cohort: Cohort,
    truth: str | os.PathLike[str],
    split: str | os.PathLike[str] | None,
    part: str,
) -> None:
    """The outputs are this model's, of validation mosaics only, of both classes."""
    cases = cohort.cases
    checksum = file_checksum(source)
    foreign = [case.mosaic_id for case in cases if case.model_checksum != checksum]
    if foreign:
        raise InputError(
            source,
            f"{len(foreign)} of {len(cases)} outputs were made by another model (their "
            f"summary.json records another checksum), e.g. {_some(foreign)}: run this model "
            "on the validation mosaics first",
        )
    trained = set(_listed(meta.provenance, TRAIN_PART))
    seen = sorted(case.mosaic_id for case in cases if case.mosaic_id in trained)
    if seen:
        raise InputError(
            source,
            f"{len(seen)} output(s) are of mosaics the model was trained on, e.g. {_some(seen)}",
        )
    if split is not None:
        _check_part(cases, split, part)
    if not cases:
        raise InputError(truth, "no output matched a mosaic of the manifest")
    positives = sum(case.positive for case in cases)
    if positives in (0, len(cases)):
        kind = "negative" if positives == 0 else "positive"
        raise InputError(
            truth,
            f"all {len(cases)} matched mosaics are {kind}: calibration needs positive "
            "and negative mosaics",
        )


def _check_part(cases: Sequence[Case], split: str | os.PathLike[str], part: str) -> None:
    """Every case is a mosaic of the split's part `part`."""
    from rcm.data import read_split

    assignment = read_split(split).assignment
    if part not in set(assignment.values()):
        raise InputError(split, f"the split has no part {part!r}")
    elsewhere = sorted(
        f"{case.mosaic_id} ({assignment.get(case.mosaic_id, 'not in the split')})"
        for case in cases
        if assignment.get(case.mosaic_id) != part
    )
    if elsewhere:
        raise InputError(
            split,
            f"{len(elsewhere)} output(s) are of mosaics outside the {part} part, e.g. "
            f"{_some(elsewhere)}: calibrate on {part} mosaics only",
        )


def _fit(
    method: str, scores: np.ndarray, positive: np.ndarray, coverage: float | None
) -> Calibration:
    from rcm.metrics import fit_isotonic, fit_platt

    fitted = fit_platt(scores, positive) if method == "platt" else fit_isotonic(scores, positive)
    return replace(fitted, coverage_fraction=coverage)


def _provenance(
    source: Path,
    outputs: Outputs,
    truth: str | os.PathLike[str],
    split: str | os.PathLike[str] | None,
    part: str,
    cohort: Cohort,
    calibration: Calibration,
) -> dict[str, Any]:
    """What the calibrated file records of how it was calibrated."""
    places = [outputs] if isinstance(outputs, str | os.PathLike) else list(outputs)
    return {
        "calibrated_with": f"rcm {__version__}",
        "method": calibration.method,
        "model": {"file": str(source), "checksum": file_checksum(source)},
        "outputs": [os.fspath(place) for place in places],
        "cases": len(cohort.cases),
        "positive": sum(case.positive for case in cohort.cases),
        "mosaics": [case.mosaic_id for case in cohort.cases],
        "coverage_fraction": cohort.coverage,
        "manifest": {"path": os.fspath(truth), "checksum": file_checksum(truth)},
        "split": None
        if split is None
        else {"path": os.fspath(split), "checksum": file_checksum(split), "part": part},
    }


def _write(
    source: Path,
    meta: ModelMeta,
    out: str | os.PathLike[str] | None,
    name: str | None,
    store: ModelStore,
    replace_existing: bool,
) -> Path:
    """The same weights with the calibrated metadata: to `out`, or into the store as `name`."""
    from rcm.models import read_model_file, save_state

    _, state = read_model_file(source)
    if out is not None:
        return save_state(out, state, meta, overwrite=replace_existing)
    assert name is not None
    with tempfile.TemporaryDirectory() as scratch:
        staged = save_state(Path(scratch) / "model.safetensors", state, meta)
        entry = store.add(staged, name, replace=replace_existing)
    return store.root / entry.file


def _result(
    calibration: Calibration,
    path: Path,
    name: str | None,
    source: Path,
    scores: np.ndarray,
    positive: np.ndarray,
    problems: Sequence[Problem],
) -> CalibrationResult:
    from rcm.metrics import brier_score, expected_calibration_error

    probability = calibration.probability(scores)
    return CalibrationResult(
        calibration=calibration,
        path=path,
        name=name,
        source=source,
        positive=int(positive.sum()),
        negative=int((~positive).sum()),
        brier=brier_score(probability, positive),
        expected_calibration_error=expected_calibration_error(probability, positive),
        problems=tuple(problems),
    )


def _listed(provenance: dict[str, Any], part: str) -> list[str]:
    """The mosaic ids a trained model's provenance lists for a split part (none if absent)."""
    split = provenance.get("split")
    items = split.get(part) if isinstance(split, dict) else None
    return [item for item in items if isinstance(item, str)] if isinstance(items, list) else []


def _some(items: Sequence[str]) -> str:
    shown = ", ".join(items[:3])
    return shown + (f" and {len(items) - 3} more" if len(items) > 3 else "")
