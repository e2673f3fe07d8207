"""What every worker process gets: its environment, torch threads and pinned GPUs."""

from __future__ import annotations

import functools
import os
import re
from typing import Any

PLUGIN_NAME = "rcm-worker-setup"


def worker_environment(threads: int) -> dict[str, str]:
    """Environment of worker processes, in place of distributed's defaults.

    distributed starts workers with ``MALLOC_TRIM_THRESHOLD_=65536``, which fixes
    glibc's mmap threshold so every large tensor is a fresh mmap and its pages are
    faulted in again: a CPU forward pass measured 1.4x slower. It also sets the
    thread variables to 1; a worker runs one mosaic with `threads` threads.
    """
    count = str(threads)
    return {"OMP_NUM_THREADS": count, "MKL_NUM_THREADS": count, "OPENBLAS_NUM_THREADS": count}


def worker_setup(threads: int, per_worker: int, devices: tuple[str, ...] | None) -> Any:
    """The plugin that pins a worker to its GPUs (when `per_worker`) and sets torch threads.

    Args:
        threads: ``torch.set_num_threads`` of each worker.
        per_worker: GPUs each worker is pinned to; 0 pins nothing.
        devices: All GPUs to share out; None is the worker's own ``CUDA_VISIBLE_DEVICES``
            (a SLURM job's GPUs, shared by the job's worker processes).

    """
    return _worker_setup_class()(threads, per_worker, devices)


@functools.cache
def _worker_setup_class() -> type:
    # Defined on first use so importing this module does not import distributed; the
    # class travels to the workers by value (cloudpickle).
    from distributed.diagnostics.plugin import WorkerPlugin

    class WorkerSetup(WorkerPlugin):
        name = PLUGIN_NAME  # registering again replaces it

        def __init__(self, threads: int, per_worker: int, devices: tuple[str, ...] | None):
            self.threads = threads
            self.per_worker = per_worker
            self.devices = devices

        def setup(self, worker: Any) -> None:
            if self.per_worker:
                # Before torch touches CUDA in this process; workers are fresh processes.
                os.environ["CUDA_VISIBLE_DEVICES"] = pinned_devices(
                    worker.name, self.per_worker, self.devices
                )
            import torch

            torch.set_num_threads(self.threads)

    return WorkerSetup


def pinned_devices(name: object, per_worker: int, devices: tuple[str, ...] | None) -> str:
    """``CUDA_VISIBLE_DEVICES`` of the worker called `name`, chosen by its trailing number.

    Local workers are called 0, 1, ...; a SLURM job's worker processes end in -0, -1, ...
    More workers than GPUs share them round-robin.
    """
    match = re.search(r"(\d+)$", str(name))
    index = int(match.group(1)) if match else 0
    if devices is None:
        named = os.environ.get("CUDA_VISIBLE_DEVICES")
        devices = tuple(d.strip() for d in named.split(",") if d.strip()) if named else ()
    if not devices:  # nothing named them: CUDA numbers devices 0, 1, ...
        return ",".join(str(index * per_worker + k) for k in range(per_worker))
    start = index * per_worker % len(devices)
    return ",".join(devices[start : start + per_worker])
