"""A scheduler somebody else started, reached over TCP or TLS."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

from rcm.errors import InputError
from rcm.jobs.cluster._spec import ClusterSpec

if TYPE_CHECKING:
    from distributed import Client


@contextlib.contextmanager
def connect(spec: ClusterSpec) -> Iterator[Client]:
    from distributed import Client
    from distributed.security import Security

    security = None
    if spec.tls is not None:
        security = Security(
            tls_ca_file=spec.tls.ca_file,
            tls_client_cert=spec.tls.cert,
            tls_client_key=spec.tls.key,
            require_encryption=True,
        )
    try:
        client = Client(spec.address, security=security)
    except OSError as error:
        raise InputError(None, f"cannot reach the scheduler at {spec.address} ({error})") from error
    with client:
        if spec.gpus_per_worker:
            check_gpu_workers(client, spec)
        yield client


def check_gpu_workers(client: Client, spec: ClusterSpec) -> None:
    """Tasks asking for a GPU wait forever where no worker has one: fail now instead."""
    workers = client.scheduler_info(n_workers=-1)["workers"]
    if workers and not any(w.get("resources", {}).get("GPU", 0) >= 1 for w in workers.values()):
        raise InputError(
            None,
            f"cluster.gpus_per_worker is {spec.gpus_per_worker} but no worker of {spec.address} "
            "offers a GPU; start the workers with --resources GPU=1",
        )
