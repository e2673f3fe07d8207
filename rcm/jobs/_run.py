"""`run_job`: plan what a job still has to do, run it on Dask distributed, record everything.

One task per mosaic (never one per tile). Results are collected as they finish;
a failure of one mosaic never stops the others. Each task's outputs are atomic
and its manifest is written last, so a job killed at any moment is resumed by
running it again.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import dask
from tqdm import tqdm

from rcm.errors import InputError
from rcm.io._mosaic import file_checksum
from rcm.jobs._manifest import (
    FileIdentity,
    fingerprint,
    job_folder,
    log_line,
    read_failures,
    read_manifest,
    write_failures,
    write_json_atomically,
)
from rcm.jobs._options import infer_options
from rcm.jobs._schema import JobSpec, MosaicEntry
from rcm.jobs._task import MosaicTask, run_mosaic

TO_DO = ("pending", "changed", "partial", "retry")


@dataclass(frozen=True)
class PlannedMosaic:
    """A mosaic of the job and what the run will do with it."""

    entry: MosaicEntry
    state: str  # done | pending | changed | partial | quarantined | retry
    task: MosaicTask


@dataclass
class JobReport:
    """What a run found and did."""

    planned: list[PlannedMosaic]
    done: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    evaluation: Path | None = None
    seconds: float = 0.0

    def count(self, state: str) -> int:
        return sum(1 for item in self.planned if item.state == state)


def plan_job(job: JobSpec, *, retry_failed: bool = False) -> list[PlannedMosaic]:
    """The state of every mosaic of `job` against what is already on disk.

    Raises:
        InputError: If the model cannot be found or the stage options do not fit it.

    """
    from rcm.models import ModelStore, read_meta

    assert job.infer is not None
    model_path = Path(job.infer.model)
    model_name = None
    if not model_path.exists():
        model_name, model_path = job.infer.model, ModelStore().resolve(job.infer.model)
    meta = read_meta(model_path)
    try:
        infer_options(meta.task, job.infer.options)
    except (TypeError, ValueError) as error:
        raise InputError(job.source, f"stages.infer.options: {error}") from error
    if job.infer.explain and meta.task != "classifier":
        raise InputError(job.source, f"explain needs a tile classifier, the model is a {meta.task}")
    model_checksum = file_checksum(model_path)
    config = {
        "convert": asdict(job.convert) if job.convert else None,
        "infer": {"options": job.infer.options, "explain": job.infer.explain},
    }
    failures = read_failures(job.output)
    plan = []
    for entry in job.mosaics:
        identity = FileIdentity.of(entry.path)
        manifest = read_manifest(job.output, entry.mosaic_id)
        failure = failures.get(entry.mosaic_id)
        if manifest is not None and manifest.mosaic.same_file(identity):
            checksum = manifest.mosaic.checksum
        elif identity is not None and (manifest is not None or failure is not None):
            checksum = file_checksum(entry.path)
        else:
            checksum = None  # nothing on disk to compare with: no need to read the file
        expected = fingerprint(checksum, model_checksum, config)
        task = MosaicTask(
            mosaic_id=entry.mosaic_id,
            path=str(entry.path),
            output_root=str(job.output),
            model_path=str(model_path),
            model_name=model_name,
            model_checksum=model_checksum,
            config=config,
            um_per_px=job.um_per_px,
        )
        outputs = [task.output] + ([task.converted] if job.convert else [])
        complete = all(path.exists() for path in outputs)
        if manifest is not None and manifest.fingerprint == expected and complete:
            state = "done"
        elif failure is not None and failure.get("fingerprint") == expected:
            state = "retry" if retry_failed else "quarantined"
        elif manifest is not None:
            state = "changed"
        elif task.output.exists():
            state = "partial"  # outputs without a manifest: the run died before it
        else:
            state = "pending"
        plan.append(PlannedMosaic(entry, state, task))
    return plan


def run_job(
    job: JobSpec,
    *,
    dry_run: bool = False,
    retry_failed: bool = False,
    progress: bool = True,
    client: Any = None,
) -> JobReport:
    """Run every mosaic of `job` that is not done yet, then evaluate if asked.

    Args:
        job: The job.
        dry_run: Only plan (nothing is started or written).
        retry_failed: Run quarantined mosaics again.
        progress: Show a progress bar.
        client: A `distributed.Client` to use instead of the job's cluster.

    """
    started = time.perf_counter()
    report = JobReport(plan_job(job, retry_failed=retry_failed))
    if dry_run:
        return report
    root = job.output
    job_folder(root).mkdir(parents=True, exist_ok=True)
    write_json_atomically(
        job_folder(root) / "plan.json",
        {
            "job": str(job.source),
            "name": job.name,
            "mosaics": [
                {"mosaic_id": p.entry.mosaic_id, "path": str(p.entry.path), "state": p.state}
                for p in report.planned
            ],
        },
    )
    todo = [item for item in report.planned if item.state in TO_DO]
    log_line(
        root,
        f"run {job.name}: {len(todo)} to do, {report.count('done')} already done, "
        f"{report.count('quarantined')} quarantined",
    )
    # Earlier failures of mosaics still quarantined, or retried now (their attempts count on).
    kept = {p.entry.mosaic_id for p in report.planned if p.state in ("quarantined", "retry")}
    failures = {key: row for key, row in read_failures(root).items() if key in kept}
    if todo:
        from rcm.jobs.cluster import describe

        log_line(root, describe(job.cluster) if client is None else f"client {client}")
        with _client(job, client) as active:
            _submit_and_collect(job, active, todo, report, failures, progress)
    write_failures(root, list(failures.values()))
    if job.evaluate is not None:
        report.evaluation = _evaluate(job)
    report.seconds = time.perf_counter() - started
    log_line(
        root,
        f"finished {job.name} in {report.seconds:.1f} s: {len(report.done)} done, "
        f"{len(report.failed)} failed",
    )
    return report


@contextlib.contextmanager
def _client(job: JobSpec, client: Any) -> Iterator[Any]:
    if client is not None:
        yield client
        return
    import distributed  # noqa: F401 (its config defaults must exist before they are overridden)

    from rcm.jobs.cluster import open_client

    # A worker that dies while holding a task counts as a failure of that task; after
    # `retries` deaths the task is given up (KilledWorker) instead of killing every worker.
    failures = {"distributed.scheduler.allowed-failures": job.retries}
    with dask.config.set(failures), open_client(job.cluster) as opened:
        yield opened


def _submit_and_collect(
    job: JobSpec,
    client: Any,
    todo: list[PlannedMosaic],
    report: JobReport,
    failures: dict[str, dict[str, Any]],
    progress: bool,
) -> None:
    from distributed import as_completed

    resources = {"GPU": 1} if job.cluster.gpus_per_worker else None
    futures = {
        client.submit(
            run_mosaic,
            item.task,
            key=f"rcm-{item.entry.mosaic_id}-{time.time_ns()}",
            pure=False,
            retries=job.retries,
            resources=resources,
        ): item
        for item in todo
    }
    with tqdm(total=len(futures), unit="mosaic", disable=not progress) as bar:
        for future in as_completed(futures):
            item = futures[future]
            try:
                record = future.result()
            except Exception as error:  # a task that kept failing or killing workers
                record = {
                    "mosaic_id": item.entry.mosaic_id,
                    "status": "failed",
                    "error": f"{type(error).__name__}: {error}",
                }
            _record(job, item, record, report, failures)
            bar.update()


def _record(
    job: JobSpec,
    item: PlannedMosaic,
    record: dict[str, Any],
    report: JobReport,
    failures: dict[str, dict[str, Any]],
) -> None:
    mosaic_id = item.entry.mosaic_id
    if record["status"] == "done":
        report.done.append(mosaic_id)
        failures.pop(mosaic_id, None)
        log_line(job.output, f"done {mosaic_id} in {record['seconds']:.1f} s on {record['worker']}")
        return
    error = " ".join(str(record["error"]).split())
    report.failed[mosaic_id] = error
    identity = FileIdentity.of(item.entry.path)
    attempts = int(failures.get(mosaic_id, {}).get("attempts", 0) or 0) + 1
    plan = plan_entry_fingerprint(job, item)
    failures[mosaic_id] = {
        "mosaic_id": mosaic_id,
        "path": str(item.entry.path),
        "error": error,
        "attempts": attempts,
        "size": identity.size if identity else "",
        "mtime_ns": identity.mtime_ns if identity else "",
        "fingerprint": plan,
    }
    log_line(job.output, f"quarantined {mosaic_id}: {error}")


def plan_entry_fingerprint(job: JobSpec, item: PlannedMosaic) -> str:
    """The fingerprint a failed mosaic had, so an unchanged re-run leaves it quarantined."""
    identity = FileIdentity.of(item.entry.path)
    checksum = file_checksum(item.entry.path) if identity is not None else None
    return fingerprint(checksum, item.task.model_checksum, item.task.config)


def _evaluate(job: JobSpec) -> Path | None:
    from rcm.cli.main import main

    assert job.evaluate is not None
    out = job.output / "evaluation"
    command = ["evaluate", str(job.output), "--truth", str(job.evaluate.truth)]
    command += ["--out", str(out), "--bootstrap", str(job.evaluate.bootstrap), "--overwrite"]
    if job.evaluate.readers is not None:
        command += ["--readers", str(job.evaluate.readers)]
    code = main(command)
    log_line(job.output, f"evaluate: exit {code}" + ("" if code else f", report in {out}"))
    return out if code == 0 else None


def status(root: Path) -> dict[str, Any]:
    """Done / failed / pending per mosaic of the last run under `root`."""
    plan_path = job_folder(root) / "plan.json"
    try:
        plan = json.loads(plan_path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise InputError(root, f"no job has run here ({error})") from error
    failures = read_failures(root)
    states: dict[str, list[str]] = {"done": [], "failed": [], "pending": []}
    for item in plan["mosaics"]:
        mosaic_id = item["mosaic_id"]
        manifest = read_manifest(root, mosaic_id)
        if mosaic_id in failures:
            states["failed"].append(mosaic_id)
        elif manifest is not None and all((root / name).exists() for name in manifest.outputs):
            states["done"].append(mosaic_id)
        else:
            states["pending"].append(mosaic_id)
    return {
        "job": plan["job"],
        "name": plan["name"],
        "states": states,
        "failures": {key: failures[key]["error"] for key in states["failed"]},
    }
