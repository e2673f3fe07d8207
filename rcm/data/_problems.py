"""How many problems, or ids, one error message names before "and N more"."""

from __future__ import annotations

from collections.abc import Sequence

SHOWN = 5


def listing(values: Sequence[str], separator: str = "; ") -> str:
    """The first `SHOWN` values joined by `separator`, then how many more there are."""
    shown = separator.join(values[:SHOWN])
    return shown + (f"{separator}and {len(values) - SHOWN} more" if len(values) > SHOWN else "")
