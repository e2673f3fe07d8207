"""Placeholder, filled in by the module's owner."""

from __future__ import annotations

from typing import Any


def register(data_commands: Any) -> None:
    """Add this module's subcommands to `rcm data`."""
