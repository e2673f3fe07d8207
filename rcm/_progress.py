"""Progress bars for long dask computations (stderr, only when asked for)."""

from __future__ import annotations

import contextlib
from contextlib import AbstractContextManager
from typing import Any


def dask_progress(description: str, enabled: bool) -> AbstractContextManager[Any]:
    """A context manager showing a tqdm bar over dask tasks, or doing nothing."""
    if not enabled:
        return contextlib.nullcontext()
    from tqdm.dask import TqdmCallback

    return TqdmCallback(desc=description, unit="task", leave=False)
