"""Cohort-scale batch jobs on Dask distributed: job files, clusters, resumable runs.

distributed and torch are imported when a job runs, not when this package is.
"""

from rcm.jobs._manifest import Manifest, read_manifest
from rcm.jobs._schema import (
    ConvertStage,
    EvaluateStage,
    InferStage,
    JobSpec,
    MosaicEntry,
    load_job,
)

__all__ = [
    "ConvertStage",
    "EvaluateStage",
    "InferStage",
    "JobSpec",
    "Manifest",
    "MosaicEntry",
    "load_job",
    "read_manifest",
]
