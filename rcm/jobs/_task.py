"""The work of one mosaic, as a Dask task: convert, infer, explain, then the manifest.

Runs on a worker. The model is loaded once per worker process and kept (a
module-level cache), not once per mosaic. Bad input (a corrupt or missing
mosaic) is a result, not an exception: retrying it elsewhere cannot help, so
the mosaic is quarantined at once. Anything else raises, and Dask retries the
task (on another worker when this one died) a bounded number of times.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rcm.errors import InputError
from rcm.jobs._manifest import FileIdentity, Manifest, fingerprint, now, write_manifest

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
    config: dict[str, Any] = field(default_factory=dict)
    um_per_px: float | None = None

    @property
    def output(self) -> Path:
        return Path(self.output_root) / f"{self.mosaic_id}.rcm"

    @property
    def converted(self) -> Path:
        return Path(self.output_root) / f"{self.mosaic_id}.zarr"


def run_mosaic(task: MosaicTask) -> dict[str, Any]:
    """Process one mosaic; return a record (``status`` done or failed, seconds, error)."""
    started = time.perf_counter()
    try:
        outputs = _process(task)
    except InputError as error:
        return {"mosaic_id": task.mosaic_id, "status": "failed", "error": str(error)}
    return {
        "mosaic_id": task.mosaic_id,
        "status": "done",
        "outputs": outputs,
        "seconds": time.perf_counter() - started,
        "worker": _worker_name(),
    }


def _process(task: MosaicTask) -> list[str]:
    from rcm.io import open_mosaic, write_ome_zarr

    root = Path(task.output_root)
    _sweep_partials(root, task.mosaic_id)
    identity = FileIdentity.of(task.path)
    mosaic = open_mosaic(task.path, um_per_px=task.um_per_px)
    mosaic_checksum = mosaic.info.checksum
    outputs = [task.output.name]
    convert = task.config.get("convert")
    if convert is not None:
        write_ome_zarr(
            mosaic.data,
            task.converted,
            um_per_px=mosaic.info.um_per_px,
            name=task.mosaic_id,
            attributes={"source": {"path": task.path, "checksum": mosaic_checksum}},
            overwrite=True,
        )
        mosaic = open_mosaic(task.converted)
        outputs.append(task.converted.name)
    model = _model(task.model_path, task.config["infer"]["options"].get("device", "auto"))
    if model.checksum != task.model_checksum:
        raise InputError(task.model_path, "the model file changed while the job ran")
    _infer(task, mosaic, model)
    assert identity is not None  # open_mosaic succeeded, so the file exists
    write_manifest(
        root,
        Manifest(
            mosaic_id=task.mosaic_id,
            fingerprint=fingerprint(mosaic_checksum, model.checksum, task.config),
            mosaic_path=task.path,
            mosaic=FileIdentity(identity.size, identity.mtime_ns, mosaic_checksum),
            model_checksum=model.checksum,
            outputs=tuple(outputs),
            finished=now(),
        ),
    )
    return outputs


def _infer(task: MosaicTask, mosaic: Any, model: Any) -> None:
    from rcm.explain import explain_output
    from rcm.infer import classify_mosaic, detect_mosaic
    from rcm.jobs._options import infer_options

    infer = task.config["infer"]
    options = infer_options(model.meta.task, infer["options"])
    common = {"model_name": task.model_name, "overwrite": True}
    if model.meta.task == "classifier":
        classify_mosaic(mosaic, model, task.output, options=options, **common)  # type: ignore[arg-type]
        if infer.get("explain"):
            explain_output(task.output, mosaic=mosaic, model=model, overwrite=True)
    else:
        detect_mosaic(mosaic, model, task.output, options=options, **common)  # type: ignore[arg-type]


def _model(path: str, device: str) -> Any:
    """The worker's copy of a model file, loaded on first use."""
    from rcm.infer import pick_device
    from rcm.models import load_model

    key = (path, device)
    if key not in _MODELS:
        _MODELS[key] = load_model(path, device=pick_device(device))
    return _MODELS[key]


def _sweep_partials(root: Path, mosaic_id: str) -> None:
    """Remove hidden partial outputs a killed attempt at this mosaic left behind."""
    for name in (f"{mosaic_id}.rcm", f"{mosaic_id}.zarr"):
        for stale in root.glob(f".{name}.partial-*"):
            shutil.rmtree(stale, ignore_errors=True) if stale.is_dir() else stale.unlink()


def _worker_name() -> str:
    try:
        from distributed import get_worker

        return str(get_worker().name)
    except (ImportError, ValueError):
        return f"pid {os.getpid()}"
