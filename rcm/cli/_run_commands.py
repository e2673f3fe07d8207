"""``rcm run`` (batch jobs on Dask distributed) and ``rcm status``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

EXIT_QUARANTINED = 3  # the job ran, but some of its mosaics are quarantined


def register(commands: Any) -> None:
    run = commands.add_parser(
        "run",
        help="run a batch job (pipelines/JOB.yaml) on Dask distributed",
        description="Run the stages of a job file over every mosaic of its manifest, one Dask "
        "task per mosaic, on a local cluster (default), SLURM or an existing scheduler. "
        "Mosaics already done with the same inputs, model and options are skipped; "
        "changed or half-finished ones are redone; mosaics that keep failing are "
        "quarantined (OUTPUT/_job/failures.csv) while the rest complete.",
    )
    run.add_argument("job", help="job file (YAML)")
    run.add_argument(
        "--dry-run", action="store_true", help="list what would run and what is done; run nothing"
    )
    run.add_argument("--retry-failed", action="store_true", help="run quarantined mosaics again")
    run.add_argument(
        "--no-progress", dest="progress", action="store_false", help="do not show progress bars"
    )
    run.set_defaults(run=run_job_command)

    status = commands.add_parser(
        "status",
        help="done / failed / pending mosaics of a job's output",
        description="Summarise the last run of a job under its output root.",
    )
    status.add_argument("output", help="the job's output root")
    status.add_argument("--json", action="store_true", help="print JSON")
    status.set_defaults(run=run_status)


def run_job_command(args: argparse.Namespace) -> int | None:
    """Run or plan the job; exit 3 (`EXIT_QUARANTINED`) when any of its mosaics is quarantined."""
    from rcm.cli._evaluate_commands import print_problems
    from rcm.jobs import load_job, run_job
    from rcm.pipeline.evaluate import EvaluationInputError

    job = load_job(args.job)
    try:
        report = run_job(
            job, dry_run=args.dry_run, retry_failed=args.retry_failed, progress=args.progress
        )
    except EvaluationInputError as failed:  # the mosaics are done; the truth is at fault
        print_problems(failed.problems)
        raise
    counts = {state: report.count(state) for state in ("done", "pending", "changed", "partial")}
    counts["quarantined"] = report.count("quarantined")
    counts["retry"] = report.count("retry")
    summary = ", ".join(f"{n} {state}" for state, n in counts.items() if n)
    if args.dry_run:
        for item in report.planned:
            print(f"{item.state:12} {item.entry.mosaic_id:24} {item.entry.path}")
        print(f"{job.name}: {len(report.planned)} mosaics ({summary}); nothing run (--dry-run)")
        return None
    print(
        f"{job.name}: {len(report.done)} done now, {counts['done']} already done, "
        f"{len(report.failed)} failed, in {report.seconds:.1f} s"
    )
    for mosaic_id, reason in sorted(report.failed.items()):
        print(f"  quarantined {mosaic_id}: {reason}")
    if report.evaluation is not None:
        print(f"evaluation: {report.evaluation / 'report.html'}")
    print(f"log: {job.output / '_job' / 'run.log'}")
    if report.failed or counts["quarantined"]:
        print(
            f"{len(report.failed) + counts['quarantined']} mosaic(s) quarantined: see "
            f"{job.output / '_job' / 'failures.csv'} (--retry-failed runs them again)"
        )
        return EXIT_QUARANTINED
    return None


def run_status(args: argparse.Namespace) -> None:
    from rcm.jobs import job_status

    found = job_status(Path(args.output))
    if args.json:
        print(json.dumps(found.as_json(), indent=2, sort_keys=True))
        return
    print(
        f"{found.name} ({found.job}): {len(found.done)} done, "
        f"{len(found.failed)} failed, {len(found.pending)} pending"
    )
    for mosaic_id, error in sorted(found.failures.items()):
        print(f"  failed {mosaic_id}: {error}")
