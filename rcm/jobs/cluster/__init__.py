"""Where a batch job runs: a local Dask cluster, SLURM jobs, or an existing scheduler.

A job file's ``cluster:`` section becomes a `ClusterSpec`; `open_client` starts what it
says and yields a `distributed.Client`. Every worker runs one mosaic at a time (one
dask thread) and gives torch the CPU threads instead, because a task is a whole
mosaic whose tiles already run in parallel inside it. Dask's nanny starts workers
with ``OMP_NUM_THREADS=1``, so a worker plugin sets torch's thread count itself.

GPUs are Dask *resources*: a worker that owns a GPU advertises ``{"GPU": n}`` and a
task of a GPU job asks for ``{"GPU": 1}``, so two mosaics never share a GPU. On a
local machine each worker is also pinned to its own device (``CUDA_VISIBLE_DEVICES``),
by dask_cuda's ``LocalCUDACluster`` when it is installed, else by the same worker
plugin, which picks the device from the worker's index (its name, ``0``, ``1``, ...).

distributed, dask-jobqueue (the optional ``hpc`` extra) and torch are imported when
a cluster starts, never when this package is.
"""

from rcm.jobs.cluster._open import open_client
from rcm.jobs.cluster._slurm import slurm_job_script
from rcm.jobs.cluster._spec import (
    KINDS,
    Adaptive,
    ClusterKind,
    ClusterSpec,
    SlurmSpec,
    TlsFiles,
    describe,
    read_cluster,
)
from rcm.jobs.cluster._worker import worker_environment

__all__ = [
    "KINDS",
    "Adaptive",
    "ClusterKind",
    "ClusterSpec",
    "SlurmSpec",
    "TlsFiles",
    "describe",
    "open_client",
    "read_cluster",
    "slurm_job_script",
    "worker_environment",
]
