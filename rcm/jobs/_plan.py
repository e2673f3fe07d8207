"""`plan_job`: what a job still has to do, from the job file and what is on disk."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rcm.errors import InputError
from rcm.io import file_checksum
from rcm.jobs._manifest import fingerprint
from rcm.jobs._schema import JobSpec, MosaicEntry
from rcm.jobs._task import MosaicTask
from rcm.outputs import Failure, FileIdentity, Manifest, MosaicState, read_failures

TO_DO: tuple[MosaicState, ...] = ("pending", "changed", "partial", "retry")


@dataclass(frozen=True)
class PlannedMosaic:
    """A mosaic of the job and what the run will do with it."""

    entry: MosaicEntry
    state: MosaicState
    task: MosaicTask


def plan_job(job: JobSpec, *, retry_failed: bool = False) -> list[PlannedMosaic]:
    """The state of every mosaic of `job` against what is already on disk.

    Raises:
        InputError: If the model cannot be found or the stage options do not fit it.

    """
    from rcm.models import read_meta
    from rcm.pipeline.infer import check_explainable, options_for, resolve_model

    assert job.infer is not None
    model = resolve_model(job.infer.model)
    task = read_meta(model.path).task
    try:
        _check_inputs(job, task)
        options_for(task, job.infer.options, where="stages.infer.options")
        if job.infer.explain:
            check_explainable(task, model.path)
    except InputError as error:
        raise InputError(job.source, error.reason) from error
    model_checksum = file_checksum(model.path)
    failures = read_failures(job.output)
    plan = []
    for entry in job.mosaics:
        task_of = MosaicTask(
            mosaic_id=entry.mosaic_id,
            path=str(entry.path),
            output_root=str(job.output),
            model_path=str(model.path),
            model_name=model.name,
            model_checksum=model_checksum,
            infer=job.infer,
            convert=job.convert,
            um_per_px=job.um_per_px,
            allow_missing_chunks=job.allow_missing_chunks,
            photos=job.photos,
        )
        state = _state(job, entry, task_of, failures.get(entry.mosaic_id), retry_failed)
        plan.append(PlannedMosaic(entry, state, task_of))
    return plan


def _check_inputs(job: JobSpec, task: str) -> None:
    """Photo sets need a photo model, mosaics a mosaic model."""
    from rcm.models import PHOTO_TASKS

    if job.photos and task not in PHOTO_TASKS:
        raise InputError(None, f"photo sets need a photo model; stages.infer.model is a {task}")
    if not job.photos and task in PHOTO_TASKS:
        raise InputError(
            None, f"a {task} runs on photo sets: list them under photos.sets, not mosaics"
        )


def _state(
    job: JobSpec,
    entry: MosaicEntry,
    task: MosaicTask,
    failure: Failure | None,
    retry_failed: bool,
) -> MosaicState:
    """Done, quarantined, or which kind of work is left for one mosaic."""
    manifest = Manifest.read(job.output, entry.mosaic_id)
    known = manifest is not None or failure is not None
    checksum = (
        _set_checksum(entry.path)
        if job.photos and known
        else _checksum(entry.path, manifest, failure)
    )
    expected = fingerprint(checksum, task.model_checksum, task.config)
    outputs = [task.output] + ([task.converted] if job.convert else [])
    if (
        manifest is not None
        and manifest.fingerprint == expected
        and all(p.exists() for p in outputs)
    ):
        return "done"
    if failure is not None and failure.fingerprint == expected:
        return "retry" if retry_failed else "quarantined"
    if manifest is not None:
        return "changed"
    return "partial" if task.output.exists() else "pending"  # partial: died before the manifest


def _checksum(path: Path, manifest: Manifest | None, failure: Failure | None) -> str | None:
    """The mosaic's checksum, read only when there is something on disk to compare with."""
    identity = FileIdentity.of(path)
    if manifest is not None and manifest.mosaic.same_file(identity):
        return manifest.mosaic.checksum
    if identity is not None and (manifest is not None or failure is not None):
        return file_checksum(path)
    return None


def _set_checksum(path: Path) -> str | None:
    """A photo set's digest (names, sizes, times: no photo read); None when it cannot be listed."""
    from rcm.infer import photo_set_digest

    try:
        return photo_set_digest(path)
    except InputError:
        return None  # its task fails and says why


def failed_fingerprint(item: PlannedMosaic) -> str:
    """The fingerprint a failed mosaic had, so an unchanged re-run leaves it quarantined."""
    identity = FileIdentity.of(item.entry.path)
    if item.task.photos:
        checksum = _set_checksum(item.entry.path)
    else:
        checksum = file_checksum(item.entry.path) if identity is not None else None
    return fingerprint(checksum, item.task.model_checksum, item.task.config)
