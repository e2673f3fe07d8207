"""`job_status`: done / failed / pending per mosaic of the last run under an output root."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rcm.outputs import JobPlan, Manifest, read_failures


@dataclass(frozen=True)
class JobStatus:
    """Where the last run of a job stands, per mosaic."""

    job: str
    name: str
    done: tuple[str, ...]
    failed: tuple[str, ...]
    pending: tuple[str, ...]
    failures: dict[str, str]  # mosaic id -> error

    def as_json(self) -> dict:
        return {
            "job": self.job,
            "name": self.name,
            "states": {
                "done": list(self.done),
                "failed": list(self.failed),
                "pending": list(self.pending),
            },
            "failures": dict(self.failures),
        }


def job_status(root: Path) -> JobStatus:
    """The state of every mosaic the last run under `root` planned.

    Raises:
        OutputFormatError: If no job has run there, or its records are damaged.

    """
    plan = JobPlan.read(root)
    failures = read_failures(root)
    done, failed, pending = [], [], []
    for item in plan.mosaics:
        manifest = Manifest.read(root, item.mosaic_id)
        if item.mosaic_id in failures:
            failed.append(item.mosaic_id)
        elif manifest is not None and all((root / name).exists() for name in manifest.outputs):
            done.append(item.mosaic_id)
        else:
            pending.append(item.mosaic_id)
    return JobStatus(
        plan.job,
        plan.name,
        tuple(done),
        tuple(failed),
        tuple(pending),
        {key: failures[key].error for key in failed},
    )
