"""Commands whose target may be left out: ``rcm synth OUT.tif`` and ``rcm demo`` mean mosaics.

Both commands had only their mosaic form before photographs came; the argv of
those days keeps working by getting the ``mosaic`` target inserted before
argparse sees it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class _Targets:
    """A command's targets, the one meant when none is given, and whether a bare command is it."""

    names: tuple[str, ...]
    default: str
    bare: bool  # ``rcm demo`` alone runs the mosaic demo; ``rcm synth`` alone needs its output


TARGETS = {
    "synth": _Targets(("mosaic", "photos"), "mosaic", bare=False),
    "demo": _Targets(("mosaic", "photos"), "mosaic", bare=True),
}


def default_target(argv: Sequence[str]) -> list[str]:
    """`argv` with the default target inserted after a command given without one."""
    args = list(argv)
    command = next((i for i, arg in enumerate(args) if not arg.startswith("-")), None)
    if command is None or args[command] not in TARGETS:
        return args
    targets = TARGETS[args[command]]
    if command + 1 == len(args):
        return [*args, targets.default] if targets.bare else args
    if args[command + 1] not in (*targets.names, "-h", "--help"):
        args.insert(command + 1, targets.default)
    return args
