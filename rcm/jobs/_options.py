"""Stage options of a job file, checked against the model's task before anything runs."""

from __future__ import annotations

from typing import Any

from rcm.infer._options import ClassifyOptions
from rcm.infer._window_options import WindowOptions


def infer_options(task: str, options: dict[str, Any]) -> ClassifyOptions | WindowOptions:
    """The options object of the model's task.

    Raises:
        ValueError: Naming an unknown option or a bad value.

    """
    kind = ClassifyOptions if task == "classifier" else WindowOptions
    known = set(kind.__dataclass_fields__)
    unknown = sorted(set(options) - known)
    if unknown:
        raise ValueError(
            f"unknown infer option(s) {', '.join(unknown)} for a {task}: "
            f"use {', '.join(sorted(known))}"
        )
    return kind(**options)
