"""What the demos share: their folder check, timed steps, and each step shown as a command."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rcm.errors import InputError


def add_demo_flags(demo: Any) -> None:
    """The flags every demo takes: the seed, replacing an earlier run, progress bars."""
    demo.add_argument("--seed", type=int, default=0, help="random seed (default %(default)s)")
    demo.add_argument("--overwrite", action="store_true", help="replace an earlier demo folder")
    demo.add_argument(
        "--no-progress", dest="progress", action="store_false", help="do not show progress bars"
    )


def check_demo_folder(folder: Path, overwrite: bool) -> None:
    """The demo's output folder must be new, empty, or given up with --overwrite.

    Raises:
        InputError: If `folder` is a file, or a folder with something in it
            (without `overwrite`).

    """
    if folder.exists() and not folder.is_dir():
        raise InputError(folder, "is a file; give a folder for the demo (--out)")
    if folder.exists() and any(folder.iterdir()) and not overwrite:
        raise InputError(folder, "demo folder is not empty (pass --overwrite to replace it)")


@contextlib.contextmanager
def timed(timings: dict[str, float], key: str) -> Iterator[None]:
    """Record the seconds the block takes as ``timings[key]``."""
    clock = time.perf_counter()
    yield
    timings[key] = time.perf_counter() - clock


def step(number: int, total: int, text: str, argv: list[str] | None = None) -> None:
    """Announce a step and the ``rcm`` command a user would type for it."""
    print(f"\n[{number}/{total}] {text}", flush=True)
    if argv is not None:
        show(argv)


def show(argv: list[str]) -> None:
    """One ``rcm`` command as a user would type it."""
    print("   $ rcm " + " ".join(argv), flush=True)


def number(value: float | None) -> str:
    """A metric with three decimals, or ``n/a`` when it could not be computed."""
    return "n/a" if value is None else f"{value:.3f}"
