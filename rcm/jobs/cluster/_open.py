"""`open_client`: start (or reach) the cluster a spec describes."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

from rcm.jobs.cluster._address import connect
from rcm.jobs.cluster._local import open_local
from rcm.jobs.cluster._slurm import open_slurm
from rcm.jobs.cluster._spec import ClusterSpec

if TYPE_CHECKING:
    from distributed import Client


@contextlib.contextmanager
def open_client(spec: ClusterSpec) -> Iterator[Client]:
    """Start (or reach) the cluster the spec describes; close what was started on exit.

    Raises:
        InputError: The spec cannot run here (GPUs asked for but none seen, an
            unreachable scheduler, no worker offering GPUs).
        BackendMissingError: kind ``slurm`` without dask-jobqueue installed.

    """
    opener = {"address": connect, "slurm": open_slurm}.get(spec.kind, open_local)
    with opener(spec) as client:
        yield client
