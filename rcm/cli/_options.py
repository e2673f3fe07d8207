"""Argument types shared by several commands."""

from __future__ import annotations

import argparse


def positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def add_common(parser: argparse.ArgumentParser) -> None:
    """Options every long-running command takes."""
    parser.add_argument(
        "--workers", type=positive_int, default=None, help="threads to use (default: one per core)"
    )
    parser.add_argument(
        "--no-progress", dest="progress", action="store_false", help="do not show progress bars"
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace existing outputs (only once the new ones are complete)",
    )
