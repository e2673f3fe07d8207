"""Cohort-scale batch jobs on Dask distributed: job files, clusters, resumable runs.

distributed and torch are imported when a job runs, not when this package is.
"""

from rcm.jobs._plan import PlannedMosaic, plan_job
from rcm.jobs._run import JobReport, run_job
from rcm.jobs._schema import (
    ConvertStage,
    EvaluateStage,
    InferStage,
    JobSpec,
    MosaicEntry,
    load_job,
)
from rcm.jobs._status import JobStatus, job_status
from rcm.jobs._task import MosaicOutcome, MosaicTask, run_mosaic

__all__ = [
    "ConvertStage",
    "EvaluateStage",
    "InferStage",
    "JobReport",
    "JobSpec",
    "JobStatus",
    "MosaicEntry",
    "MosaicOutcome",
    "MosaicTask",
    "PlannedMosaic",
    "job_status",
    "load_job",
    "plan_job",
    "run_job",
    "run_mosaic",
]
