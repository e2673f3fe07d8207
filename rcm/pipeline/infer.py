"""The infer stage: one model over one mosaic or one photo set, whatever the model's task.

The task dispatch lives here and nowhere else: `rcm infer`, batch jobs and the
demo name a model and give options; the model file's task picks the options
type and the stage function (`STAGES`): mosaic tasks take `RunOptions` and run
through `infer_mosaic`, photo tasks take `PhotoOptions` and run through
`infer_photo_set`. torch is imported only when a model is loaded or run.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rcm.errors import InputError, bad_input
from rcm.infer import (
    ClassifyOptions,
    PhotoDetectorOptions,
    PhotoOptions,
    RunOptions,
    WindowOptions,
)
from rcm.models import PHOTO_TASKS, Task

if TYPE_CHECKING:
    from rcm.explain import ExplainOptions, ExplainResult
    from rcm.infer import MosaicResult, PhotoInputs, PhotoRunResult
    from rcm.io import Mosaic
    from rcm.models import LoadedModel


@dataclass(frozen=True)
class _Stage:
    """A task's options type and the name of its stage function in `rcm.infer`."""

    options: type[RunOptions] | type[PhotoOptions]
    function: str  # looked up when the stage runs: rcm.infer imports torch


STAGES: dict[str, _Stage] = {
    Task.CLASSIFIER: _Stage(ClassifyOptions, "classify_mosaic"),
    Task.DETECTOR: _Stage(WindowOptions, "detect_mosaic"),
    Task.SEGMENTER: _Stage(WindowOptions, "detect_mosaic"),
    Task.PHOTO_CLASSIFIER: _Stage(PhotoOptions, "infer_photos"),
    Task.PHOTO_DETECTOR: _Stage(PhotoDetectorOptions, "infer_photos"),
}
AnyOptions = RunOptions | PhotoOptions


@dataclass(frozen=True)
class ModelRef:
    """A model file and, when it came from the store, its name there."""

    path: Path
    name: str | None


@dataclass(frozen=True)
class InferOutcome:
    """What the infer stage wrote: the mosaic's result and, when asked, its explanation."""

    result: MosaicResult
    explanation: ExplainResult | None = None


def options_class(task: str) -> type[RunOptions] | type[PhotoOptions]:
    """The options type of a model task."""
    try:
        return STAGES[task].options
    except KeyError:
        raise InputError(None, f"unknown model task {task!r}") from None


def options_for(task: str, values: Mapping[str, Any], *, where: str = "options") -> AnyOptions:
    """The options of the model's task from field values (a job file's or the CLI's).

    Raises:
        InputError: Naming an option the task does not have, or a bad value.

    """
    from rcm.config import ConfigError, from_mapping

    try:
        return from_mapping(options_class(task), dict(values), where=where)
    except ConfigError as error:
        raise InputError(None, f"{error} (for a {task})") from error


def stored_model(name: str) -> ModelRef:
    """The file of the model `name` in the store (checked against its checksum)."""
    from rcm.models import ModelStore

    return ModelRef(ModelStore().resolve(name), name)


def resolve_model(model: str | os.PathLike[str]) -> ModelRef:
    """A model file as given, or else the file of a model in the store by that name."""
    path = Path(model)
    return ModelRef(path, None) if path.exists() else stored_model(str(model))


def load_for_run(path: str | os.PathLike[str], device: str) -> LoadedModel:
    """Load a model file onto the device an options' ``device`` names.

    Raises:
        InputError: If the file is no usable model or the device does not exist.

    """
    from rcm.infer import pick_device
    from rcm.models import load_model

    with bad_input():  # a device that does not exist: an option, not the file, is at fault
        target = pick_device(device)
    with bad_input(path):
        return load_model(path, device=target)


def check_explainable(task: str, model_path: str | os.PathLike[str]) -> None:
    """Explanations are Grad-CAM maps of tile classifiers only."""
    if task != Task.CLASSIFIER:
        raise InputError(model_path, f"explanations need a tile classifier; this model is a {task}")


def infer_mosaic(
    mosaic: Mosaic,
    model: LoadedModel,
    output: str | os.PathLike[str],
    *,
    options: AnyOptions | None = None,
    explain: ExplainOptions | None = None,
    model_name: str | None = None,
    overwrite: bool = False,
    progress: bool = False,
) -> InferOutcome:
    """Run `model` over `mosaic` and write its output folder (and explanation, if asked).

    Args:
        mosaic: An opened mosaic.
        model: A loaded model of any task.
        output: The output folder to create (atomically).
        options: Options of the model's task (its defaults when None).
        explain: Also explain the suspicious tiles (tile classifiers only).
        model_name: The model's store name, recorded for provenance.
        overwrite: Replace an existing output once the new one is complete.
        progress: Show progress bars.

    Raises:
        InputError: If the options or the explanation do not fit the model's task.

    """
    task = model.meta.task
    if task in PHOTO_TASKS:
        raise InputError(
            model.path,
            f"a {task} runs on clinical photographs, not on a mosaic: give it a photo, a "
            "folder of photos or a COCO .json file",
        )
    options = _checked_options(model, options)
    if explain is not None:
        check_explainable(task, model.path)
    import rcm.infer

    run: Callable[..., MosaicResult] = getattr(rcm.infer, STAGES[task].function)
    result = run(
        mosaic,
        model,
        output,
        options=options,
        model_name=model_name,
        overwrite=overwrite,
        progress=progress,
    )
    if explain is None:
        return InferOutcome(result)
    from rcm.explain import explain_output

    explained = explain_output(
        output, mosaic=mosaic, model=model, options=explain, overwrite=True, progress=progress
    )
    return InferOutcome(result, explained)


def _checked_options(model: LoadedModel, options: AnyOptions | None) -> Any:
    """`options`, or the task's defaults; refused when they are another task's."""
    task = model.meta.task
    kind = options_class(task)
    options = options or kind()
    if type(options) is not kind:
        raise InputError(model.path, f"{type(options).__name__} do not fit a {task}")
    return options


def infer_photo_set(
    source: str | os.PathLike[str] | PhotoInputs,
    model: LoadedModel,
    output: str | os.PathLike[str],
    *,
    options: AnyOptions | None = None,
    model_name: str | None = None,
    overwrite: bool = False,
    resume: bool = True,
    progress: bool = False,
) -> PhotoRunResult:
    """Run a photo model over a photo, a folder of photos or a COCO file; one output folder.

    Args:
        source: The photos (or their listing, `rcm.infer.PhotoInputs`).
        model: A loaded photo classifier or photo detector.
        output: The output folder to create (atomically).
        options: `PhotoOptions` (`PhotoDetectorOptions` for detectors); the task's
            defaults when None.
        model_name: The model's store name, recorded for provenance.
        overwrite: Replace an existing output once the new one is complete.
        resume: Continue an interrupted run of the same output (see
            `rcm.infer.infer_photos`); False starts over.
        progress: Show a progress bar.

    Raises:
        InputError: If the model is a mosaic model, the options are another
            task's, or the photos cannot be read.

    """
    task = model.meta.task
    if task not in PHOTO_TASKS:
        raise InputError(
            model.path,
            f"a {task} runs on mosaics, not on clinical photographs ({source}): use a "
            "photo-classifier or photo-detector model",
        )
    import rcm.infer

    run: Callable[..., PhotoRunResult] = getattr(rcm.infer, STAGES[task].function)
    return run(
        source,
        model,
        output,
        options=_checked_options(model, options),
        model_name=model_name,
        overwrite=overwrite,
        resume=resume,
        progress=progress,
    )
