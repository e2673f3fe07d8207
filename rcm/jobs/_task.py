"""The work of one mosaic, as a Dask task: convert, infer, explain, then the manifest.

Runs on a worker. The model is loaded once per worker process and kept (a
module-level cache), not once per mosaic. Bad input (a corrupt or missing
mosaic) is a result, not an exception: retrying it elsewhere cannot help, so
the mosaic is quarantined at once. An output that cannot be written (disk
full) is the output root's fault, not the mosaic's: a "stopped" result that
stops the job. Anything else raises, and Dask retries the task (on another
worker when this one died) a bounded number of times. Partials of earlier,
killed attempts are swept by `rcm.io.atomic_output` as each output is written
(those of a writer still alive are kept).
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from rcm.errors import InputError, OutputError
from rcm.infer import RunOptions
from rcm.jobs._manifest import fingerprint, now
from rcm.jobs._schema import ConvertStage, InferStage
from rcm.outputs import FileIdentity, Manifest

_MODELS: dict[tuple[str, str], Any] = {}


@dataclass(frozen=True)
class MosaicTask:
    """Everything a worker needs for one mosaic (small and picklable)."""

    mosaic_id: str
    path: str
    output_root: str
    model_path: str
    model_name: str | None
    model_checksum: str
    infer: InferStage
    convert: ConvertStage | None = None
    um_per_px: float | None = None
    # Reading option, not part of the fingerprint: it changes nothing a store holds.
    allow_missing_chunks: bool = False
    photos: bool = False  # `path` is a photo set (COCO file, VOC folder, folder of photos)

    @property
    def config(self) -> dict[str, Any]:
        """What the fingerprint covers: the stages' options as the job file gave them."""
        return {
            "convert": asdict(self.convert) if self.convert else None,
            "infer": {"options": self.infer.options, "explain": self.infer.explain},
        }

    @property
    def output(self) -> Path:
        return Path(self.output_root) / f"{self.mosaic_id}.rcm"

    @property
    def converted(self) -> Path:
        return Path(self.output_root) / f"{self.mosaic_id}.zarr"


@dataclass(frozen=True)
class MosaicOutcome:
    """What one task reports back: done (with its outputs), failed or stopped (with the reason).

    Failed: the mosaic is bad input (quarantined). Stopped: its output could not be
    written (the job stops; the mosaic is not at fault).
    """

    mosaic_id: str
    status: Literal["done", "failed", "stopped"]
    error: str = ""
    outputs: tuple[str, ...] = ()
    seconds: float = 0.0
    worker: str = ""


def run_mosaic(task: MosaicTask) -> MosaicOutcome:
    """Process one mosaic; bad input is a failed record, anything else raises."""
    started = time.perf_counter()
    try:
        outputs = _process(task)
    except OutputError as error:
        return MosaicOutcome(task.mosaic_id, "stopped", error=str(error))
    except InputError as error:
        return MosaicOutcome(task.mosaic_id, "failed", error=str(error))
    return MosaicOutcome(
        task.mosaic_id,
        "done",
        outputs=tuple(outputs),
        seconds=time.perf_counter() - started,
        worker=_worker_name(),
    )


def _process(task: MosaicTask) -> list[str]:
    if task.photos:
        return _process_photos(task)
    from rcm.io import open_mosaic
    from rcm.pipeline.convert import convert_mosaic

    root = Path(task.output_root)
    identity = FileIdentity.of(task.path)
    mosaic = open_mosaic(
        task.path, um_per_px=task.um_per_px, allow_missing_chunks=task.allow_missing_chunks
    )
    mosaic_checksum = mosaic.info.checksum
    outputs = [task.output.name]
    if task.convert is not None:
        options = task.convert.write_options()
        convert_mosaic(mosaic, task.converted, options=options, name=task.mosaic_id, overwrite=True)
        mosaic = open_mosaic(task.converted)
        outputs.append(task.converted.name)
    device = task.infer.options.get("device", RunOptions().device)
    model = _model(task.model_path, device)
    if model.checksum != task.model_checksum:
        raise InputError(task.model_path, "the model file changed while the job ran")
    _infer(task, mosaic, model)
    assert identity is not None  # open_mosaic succeeded, so the file exists
    Manifest(
        mosaic_id=task.mosaic_id,
        fingerprint=fingerprint(mosaic_checksum, model.checksum, task.config),
        mosaic_path=task.path,
        mosaic=FileIdentity(identity.size, identity.mtime_ns, mosaic_checksum),
        model_checksum=model.checksum,
        outputs=tuple(outputs),
        finished=now(),
    ).write(root)
    return outputs


def _process_photos(task: MosaicTask) -> list[str]:
    """One photo set: the same `infer_photo_set` as ``rcm infer``, then the manifest.

    A task that died part way leaves the run's shards beside its output, so its
    retry (or the job's rerun) continues the set instead of starting it over.
    """
    from rcm.infer import PhotoOptions, photo_set_digest
    from rcm.pipeline.infer import infer_photo_set, options_for

    identity = FileIdentity.of(task.path)
    checksum = photo_set_digest(task.path)
    model = _model(task.model_path, task.infer.options.get("device", PhotoOptions().device))
    if model.checksum != task.model_checksum:
        raise InputError(task.model_path, "the model file changed while the job ran")
    options = options_for(model.meta.task, task.infer.options, where="stages.infer.options")
    infer_photo_set(
        task.path, model, task.output, options=options, model_name=task.model_name, overwrite=True
    )
    assert identity is not None  # the set was listed, so it exists
    Manifest(
        mosaic_id=task.mosaic_id,
        fingerprint=fingerprint(checksum, model.checksum, task.config),
        mosaic_path=task.path,
        mosaic=FileIdentity(identity.size, identity.mtime_ns, checksum),
        model_checksum=model.checksum,
        outputs=(task.output.name,),
        finished=now(),
    ).write(Path(task.output_root))
    return [task.output.name]


def _infer(task: MosaicTask, mosaic: Any, model: Any) -> None:
    from rcm.explain import ExplainOptions
    from rcm.pipeline.infer import infer_mosaic, options_for

    options = options_for(model.meta.task, task.infer.options, where="stages.infer.options")
    explain = ExplainOptions(device=options.device) if task.infer.explain else None
    infer_mosaic(
        mosaic,
        model,
        task.output,
        options=options,
        explain=explain,
        model_name=task.model_name,
        overwrite=True,
    )


def _model(path: str, device: str) -> Any:
    """The worker's copy of a model file, loaded on first use."""
    from rcm.pipeline.infer import load_for_run

    key = (path, device)
    if key not in _MODELS:
        _MODELS[key] = load_for_run(path, device)
    return _MODELS[key]


def _worker_name() -> str:
    try:
        from distributed import get_worker

        return str(get_worker().name)
    except (ImportError, ValueError):
        return f"pid {os.getpid()}"
