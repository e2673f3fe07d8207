"""How rcm runs dask graphs inside one process: local threads, optional progress bar.

One task of a batch job handles one whole mosaic, so the work inside it runs on
the local threaded scheduler even when a distributed client exists. Naming the
scheduler also spares dask from importing `distributed` to look for a client,
which costs half a second per process.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import dask
import dask.threaded


@contextlib.contextmanager
def local_compute(
    description: str, *, progress: bool, workers: int | None = None
) -> Iterator[None]:
    """Run the dask computations in this block on local threads, with a tqdm bar if asked."""
    # A callable, not the name "threads": a name makes dask import distributed.
    with dask.config.set(scheduler=dask.threaded.get, num_workers=workers):
        if not progress:
            yield
            return
        from tqdm.dask import TqdmCallback

        with TqdmCallback(desc=description, unit="task", leave=False):
            yield
