"""SLURM jobs through dask-jobqueue: the job arguments, the script, the cluster."""

from __future__ import annotations

import contextlib
import json
import shlex
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from rcm.errors import BackendMissingError
from rcm.jobs.cluster._local import LOOPBACK
from rcm.jobs.cluster._spec import ClusterSpec
from rcm.jobs.cluster._worker import worker_environment, worker_setup

if TYPE_CHECKING:
    from distributed import Client

_PLACEHOLDER_SCHEDULER = "tcp://<scheduler-address>:8786"


def slurm_job_script(spec: ClusterSpec) -> str:
    """The batch script each SLURM job of the spec would run, without submitting any.

    The scheduler address in it is a placeholder: the real one exists once
    `open_client` starts the scheduler.

    Raises:
        ValueError: The spec is not of kind ``slurm``.
        BackendMissingError: dask-jobqueue is not installed.

    """
    if spec.kind != "slurm":
        raise ValueError(f"a job script needs kind 'slurm', got {spec.kind!r}")
    cluster_cls = slurm_cluster_class()
    # The job class alone writes the script: a SLURMCluster would start a scheduler.
    job = cluster_cls.job_cls(_PLACEHOLDER_SCHEDULER, name="dummy-name", **slurm_job_kwargs(spec))
    return str(job.job_script())


def slurm_cluster_class() -> Any:
    try:
        from dask_jobqueue import SLURMCluster
    except ImportError as error:
        raise BackendMissingError(
            "cluster kind 'slurm' needs dask-jobqueue: pip install 'rcm[hpc]' "
            f"(or pip install dask-jobqueue) ({error})"
        ) from error
    return SLURMCluster


def slurm_job_kwargs(spec: ClusterSpec) -> dict[str, Any]:
    """dask-jobqueue's job arguments: what each SLURM job asks for and runs."""
    slurm = spec.slurm
    assert slurm is not None  # checked on construction
    directives = list(slurm.job_extra_directives)
    worker_args: list[str] = []
    if slurm.gpus:
        directives.append(f"--gres=gpu:{slurm.gpus}")
        worker_args += ["--resources", f"GPU={spec.gpus_per_worker}"]
    kwargs: dict[str, Any] = {
        # dask-jobqueue gives each worker cores / processes dask threads; one mosaic at
        # a time per worker means one dask thread, so the job's CPUs go in job_cpu.
        "cores": slurm.processes,
        "job_cpu": slurm.cores,
        "processes": slurm.processes,
        "memory": slurm.memory,
        "job_extra_directives": directives,
        "worker_extra_args": worker_args,
        # Remote nannies read their own configuration: hand it the same environment.
        "job_script_prologue": [
            "export DASK_DISTRIBUTED__NANNY__PRE_SPAWN_ENVIRON="
            + shlex.quote(json.dumps(worker_environment(spec.threads or slurm.threads))),
            *slurm.job_script_prologue,
        ],
        "python": slurm.python or sys.executable,
        "job_name": "rcm-worker",
    }
    optional = {
        "queue": slurm.queue,
        "account": slurm.account,
        "walltime": slurm.walltime,
        "local_directory": slurm.local_directory,
        "log_directory": slurm.log_directory,
        "interface": slurm.interface,
    }
    # None would be read as "use dask-jobqueue's configuration" anyway; leave it to it.
    kwargs.update({key: value for key, value in optional.items() if value is not None})
    return kwargs


@contextlib.contextmanager
def open_slurm(spec: ClusterSpec) -> Iterator[Client]:
    from distributed import Client

    slurm = spec.slurm
    assert slurm is not None  # checked on construction
    cluster_cls = slurm_cluster_class()
    # Workers on other nodes reach the scheduler on its network address; the
    # dashboard (and health/metrics pages) stays on 127.0.0.1: use ssh -L to see it.
    scheduler_options = {"dashboard_address": f"{LOOPBACK}:0", "dashboard": spec.dashboard}
    with (
        cluster_cls(**slurm_job_kwargs(spec), scheduler_options=scheduler_options) as cluster,
        Client(cluster) as client,
    ):
        # Registered before any job starts: each worker gets it when it joins. A job
        # with one worker leaves it all the job's GPUs; several share them out.
        per_worker = spec.gpus_per_worker if slurm.processes > 1 else 0
        client.register_plugin(worker_setup(spec.threads or slurm.threads, per_worker, None))
        if slurm.adaptive is not None:
            cluster.adapt(minimum_jobs=slurm.adaptive.minimum, maximum_jobs=slurm.adaptive.maximum)
        else:
            cluster.scale(jobs=slurm.jobs or 1)
        yield client
