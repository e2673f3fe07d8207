"""A local Dask cluster sized to this machine's GPUs and CPUs."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rcm.errors import InputError
from rcm.jobs.cluster._spec import ClusterSpec
from rcm.jobs.cluster._worker import worker_environment, worker_setup

if TYPE_CHECKING:
    from distributed import Client

# Neither scheduler nor dashboard listens beyond this machine unless a cluster needs it.
LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class LocalPlan:
    """A local cluster sized to this machine: constructor arguments and worker setup."""

    workers: int
    threads: int
    use_dask_cuda: bool
    kwargs: dict[str, Any]
    # GPUs the plugin pins workers to, `per_worker` each; empty when nothing is pinned.
    devices: tuple[str, ...] = ()
    per_worker: int = 0


def local_plan(
    spec: ClusterSpec, *, devices: tuple[str, ...], cpus: int, dask_cuda: bool
) -> LocalPlan:
    """Size a local cluster for a machine with these GPUs (device ids) and CPUs."""
    gpus = spec.gpus_per_worker
    if gpus and len(devices) < gpus:
        raise InputError(
            None,
            f"cluster.gpus_per_worker is {gpus} but torch sees {len(devices)} CUDA GPU(s) here",
        )
    if spec.workers is not None:
        workers = spec.workers
    elif devices:
        workers = len(devices) // max(gpus, 1)
    else:
        workers = max(1, cpus // 4)
    if gpus and workers * gpus > len(devices):
        raise InputError(
            None,
            f"{workers} workers x {gpus} GPU(s) need {workers * gpus} GPUs; "
            f"torch sees {len(devices)}",
        )
    threads = spec.threads or max(1, cpus // workers)
    kwargs: dict[str, Any] = {
        "n_workers": workers,
        "threads_per_worker": 1,  # one mosaic at a time per worker
        "processes": True,
        "host": LOOPBACK,
        # The scheduler serves health and metrics pages even without a dashboard; a
        # free port rather than 8787 lets several jobs and notebooks run side by side.
        "dashboard_address": f"{LOOPBACK}:0",
        "scheduler_kwargs": {"dashboard": spec.dashboard},
        "memory_limit": spec.memory_limit or "auto",
    }
    if gpus:
        kwargs["resources"] = {"GPU": gpus}
    # dask_cuda pins one GPU per worker; other layouts are pinned by the plugin.
    use_dask_cuda = dask_cuda and bool(devices) and gpus <= 1 and workers <= len(devices)
    if use_dask_cuda:
        kwargs["CUDA_VISIBLE_DEVICES"] = ",".join(devices[:workers])
        return LocalPlan(workers, threads, True, kwargs)
    return LocalPlan(workers, threads, False, kwargs, devices, max(gpus, 1) if devices else 0)


@contextlib.contextmanager
def open_local(spec: ClusterSpec) -> Iterator[Client]:
    """A local cluster for `spec`, sized to the GPUs and CPUs found here, and its client."""
    import dask
    from distributed import Client, LocalCluster

    plan = local_plan(spec, devices=visible_gpus(), cpus=usable_cpus(), dask_cuda=has_dask_cuda())

    cluster_cls: Any = LocalCluster
    if plan.use_dask_cuda:
        from dask_cuda import LocalCUDACluster

        cluster_cls = LocalCUDACluster
    environ = {"distributed.nanny.pre-spawn-environ": worker_environment(plan.threads)}
    with (
        dask.config.set(environ),
        _without_inherited_trim(),
        cluster_cls(**plan.kwargs) as cluster,
        Client(cluster) as client,
    ):
        client.register_plugin(worker_setup(plan.threads, plan.per_worker, plan.devices))
        yield client


@contextlib.contextmanager
def _without_inherited_trim() -> Iterator[None]:
    """Start workers without the pre-spawn variables an earlier cluster left behind.

    distributed's nanny puts its pre-spawn variables (the malloc trim threshold,
    one-thread settings) into this process's own environment, where they stay: a
    cluster started earlier in the same process would hand them on to every
    later worker. They are set aside while workers start, then put back.
    """
    names = ("MALLOC_TRIM_THRESHOLD_", *worker_environment(1))
    inherited = {name: os.environ.pop(name) for name in names if name in os.environ}
    try:
        yield
    finally:
        for name in names:
            os.environ.pop(name, None)
        os.environ.update(inherited)


def visible_gpus() -> tuple[str, ...]:
    """Ids of the CUDA devices torch sees, as ``CUDA_VISIBLE_DEVICES`` names them."""
    import torch

    count = torch.cuda.device_count()
    named = os.environ.get("CUDA_VISIBLE_DEVICES")
    if named is None:
        return tuple(str(index) for index in range(count))
    return tuple(name.strip() for name in named.split(",") if name.strip())[:count]


def usable_cpus() -> int:
    """CPUs this process may run on (a SLURM allocation or taskset limits them)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def has_dask_cuda() -> bool:
    try:
        import dask_cuda  # noqa: F401
    except ImportError:
        return False
    return True
