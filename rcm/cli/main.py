"""The ``rcm`` command: argument parsing, dispatch, and one-line errors with exit codes.

Exit codes: 0 success, 2 bad usage or input (an output that cannot be written
included: it exists, the disk is full, another run holds a job's lock), 3 a job
ran but some of its mosaics are quarantined (``rcm run``: see
OUTPUT/_job/failures.csv), 1 internal error, 130 interrupted.
"""

from __future__ import annotations

import argparse
import logging
import sys
import traceback
from collections.abc import Sequence

from rcm._version import __version__
from rcm.cli import (
    _data_commands,
    _demo,
    _evaluate_commands,
    _explain_commands,
    _infer_commands,
    _io_commands,
    _models_commands,
    _run_commands,
    _synth_commands,
    _targets,
    _train_commands,
)
from rcm.errors import InputError

EXIT_OK, EXIT_INTERNAL, EXIT_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130
EXIT_QUARANTINED = _run_commands.EXIT_QUARANTINED


def build_parser() -> argparse.ArgumentParser:
    """The full ``rcm`` parser; each command module adds its subcommands."""
    parser = argparse.ArgumentParser(
        prog="rcm",
        description="Reflectance confocal microscopy mosaics: read, convert, synthesise.",
    )
    parser.add_argument("--version", action="version", version=f"rcm {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in (
        _demo,
        _synth_commands,
        _io_commands,
        _infer_commands,
        _models_commands,
        _explain_commands,
        _evaluate_commands,
        _run_commands,
        _data_commands,
        _train_commands,
    ):
        module.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``rcm`` with `argv` (default: the process arguments); return the exit code."""
    parser = build_parser()
    args = parser.parse_args(_targets.default_target(sys.argv[1:] if argv is None else argv))
    if not args.debug:  # tifffile logs recoverable oddities; our own messages cover failures
        logging.getLogger("tifffile").setLevel(logging.ERROR)
    try:
        code = args.run(args)  # a command returns None (success) or its exit code
    except InputError as error:
        _report(f"error: {error}", args.debug)
        return EXIT_INPUT
    except KeyboardInterrupt:
        _report("interrupted", args.debug)
        return EXIT_INTERRUPTED
    except Exception as error:
        _report(
            f"internal error: {type(error).__name__}: {error}",
            args.debug,
            hint="run again with --debug for the traceback",
        )
        return EXIT_INTERNAL
    return EXIT_OK if code is None else int(code)


def _report(message: str, debug: bool, hint: str | None = None) -> None:
    if debug:
        traceback.print_exc()
    suffix = f" ({hint})" if hint and not debug else ""
    print(f"rcm: {message}{suffix}", file=sys.stderr)


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())


if __name__ == "__main__":
    run()
