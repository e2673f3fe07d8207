"""`run_job`: plan what a job still has to do, run it on Dask distributed, record everything.

One task per mosaic (never one per tile). Results are collected as they finish;
a failure of one mosaic never stops the others, but an output that cannot be
written (disk full) stops the job: the mosaics left are not at fault. Each
task's outputs are atomic and its manifest is written last, so a job killed at
any moment is resumed by running it again. One run at a time per output root:
a run holds the lock ``OUTPUT/_job/lock`` for its whole life, and a second one
is refused with the holder's name.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dask
from tqdm import tqdm

from rcm.errors import InputError, OutputError
from rcm.io import LockHeld, held_lock, output_errors, this_process
from rcm.jobs._manifest import log_line, now
from rcm.jobs._plan import TO_DO, PlannedMosaic, failed_fingerprint, plan_job
from rcm.jobs._schema import JobSpec
from rcm.jobs._task import MosaicOutcome, run_mosaic
from rcm.outputs import (
    Failure,
    FileIdentity,
    JobPlan,
    MosaicState,
    PlanEntry,
    Problem,
    job_folder,
    read_failures,
    write_failures,
)


@dataclass
class JobReport:
    """What a run found and did."""

    planned: list[PlannedMosaic]
    done: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    stopped: str | None = None
    evaluation: Path | None = None
    seconds: float = 0.0

    def count(self, state: MosaicState) -> int:
        return sum(1 for item in self.planned if item.state == state)


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

    Raises:
        InputError: If the job cannot run, or its evaluate stage finds bad input (the
            mosaics' results are recorded before evaluation starts).
        OutputError: If another run holds the job's lock, or an output cannot be
            written (the job stops; what was done is kept).

    """
    started = time.perf_counter()
    if dry_run:
        return JobReport(plan_job(job, retry_failed=retry_failed))
    with job_lock(job.output):
        report = JobReport(plan_job(job, retry_failed=retry_failed))
        _run_planned(job, report, progress, client)
        report.seconds = time.perf_counter() - started
        log_line(
            job.output,
            f"finished {job.name} in {report.seconds:.1f} s: {len(report.done)} done, "
            f"{len(report.failed)} failed",
        )
    return report


@contextlib.contextmanager
def job_lock(root: Path) -> Iterator[None]:
    """Hold the lock of the job writing to `root` for the block.

    Raises:
        OutputError: Naming `root` and the holder, if another run holds it; naming the
            lock file, if it cannot be opened or written (another user's).

    """
    path = job_folder(root) / "lock"
    with output_errors(path):
        path.parent.mkdir(parents=True, exist_ok=True)
    stack = contextlib.ExitStack()
    try:
        stack.enter_context(held_lock(path, f"{this_process()}, since {now()}", remove=False))
    except LockHeld as held:
        raise OutputError(
            root, f"another rcm run is working on this job ({held.holder}); wait for it to end"
        ) from None
    except OSError as error:
        raise OutputError(path, f"cannot be locked: {error.strerror or error}") from error
    with stack:
        yield


def _run_planned(job: JobSpec, report: JobReport, progress: bool, client: Any) -> None:
    """Run what `report` planned, record failures, evaluate (while holding the job's lock)."""
    root = job.output
    entries = (PlanEntry(p.entry.mosaic_id, str(p.entry.path), p.state) for p in report.planned)
    JobPlan(str(job.source), job.name, tuple(entries)).write(root)
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
    if report.stopped is not None:
        log_line(root, f"stopped: {report.stopped}")
        raise OutputError(
            None,
            f"{report.stopped}; the job stopped with {len(report.done)} mosaic(s) done now "
            "(run it again when the output can be written: nothing was quarantined for it)",
        )
    if job.evaluate is not None:
        report.evaluation = _evaluate(job)


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
    failures: dict[str, Failure],
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
            if not future.cancelled():
                record = _outcome(future, item)
                if record.status == "stopped" and report.stopped is None:
                    report.stopped = record.error  # the output root is at fault: stop
                    client.cancel([other for other in futures if not other.done()])
                if record.status != "stopped":
                    _record(job, item, record, report, failures)
            bar.update()


def _outcome(future: Any, item: PlannedMosaic) -> MosaicOutcome:
    try:
        return future.result()
    except Exception as error:  # a task that kept failing or killing workers
        return MosaicOutcome(
            item.entry.mosaic_id, "failed", error=f"{type(error).__name__}: {error}"
        )


def _record(
    job: JobSpec,
    item: PlannedMosaic,
    record: MosaicOutcome,
    report: JobReport,
    failures: dict[str, Failure],
) -> None:
    mosaic_id = item.entry.mosaic_id
    if record.status == "done":
        report.done.append(mosaic_id)
        failures.pop(mosaic_id, None)
        log_line(job.output, f"done {mosaic_id} in {record.seconds:.1f} s on {record.worker}")
        return
    error = " ".join(record.error.split())
    report.failed[mosaic_id] = error
    identity = FileIdentity.of(item.entry.path)
    earlier = failures.get(mosaic_id)
    failures[mosaic_id] = Failure(
        mosaic_id=mosaic_id,
        path=str(item.entry.path),
        error=error,
        attempts=(earlier.attempts if earlier else 0) + 1,
        size=identity.size if identity else None,
        mtime_ns=identity.mtime_ns if identity else None,
        fingerprint=failed_fingerprint(item),
    )
    log_line(job.output, f"quarantined {mosaic_id}: {error}")


def _evaluate(job: JobSpec) -> Path:
    """The evaluate stage: the same library call as ``rcm evaluate``; bad input raises."""
    from rcm.pipeline.evaluate import EvaluationInputError, evaluate_outputs

    stage = job.evaluate
    assert stage is not None
    out = job.output / "evaluation"
    try:
        result = evaluate_outputs(
            job.output,
            stage.truth,
            out,
            options=stage.options(),
            readers=stage.readers,
            overwrite=True,
        )
    except EvaluationInputError as error:
        _log_problems(job.output, error.problems)
        log_line(job.output, f"evaluate failed: {error}")
        raise
    except InputError as error:
        log_line(job.output, f"evaluate failed: {error}")
        raise
    _log_problems(job.output, result.problems)
    log_line(job.output, f"evaluate: report in {out}")
    return out


def _log_problems(root: Path, problems: Sequence[Problem]) -> None:
    for problem in problems:
        log_line(root, f"evaluate {problem}")
