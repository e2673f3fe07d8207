"""A job's fingerprint of one mosaic's work, and its run log.

A mosaic is done when its manifest's fingerprint (mosaic checksum, model
checksum, stage configuration, rcm version) matches the job's and its outputs
exist. Outputs without a manifest come from a run that died between the two
writes: they are redone. The mosaic checksum is trusted from the manifest while
the file's size and modification time are unchanged, so planning a re-run of
thousands of mosaics does not re-read them all. The files themselves are typed
in `rcm.outputs` (`Manifest`, `JobPlan`, `Failure`).
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from rcm._version import __version__
from rcm.io import output_errors
from rcm.outputs import job_folder


def fingerprint(mosaic_checksum: str | None, model_checksum: str, config: dict[str, Any]) -> str:
    """Identity of one mosaic's work: change any input or option and it changes."""
    text = json.dumps(
        {"mosaic": mosaic_checksum, "model": model_checksum, "config": config, "rcm": __version__},
        sort_keys=True,
    )
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def log_line(root: Path, text: str) -> None:
    """Append one timestamped line to the run log."""
    path = job_folder(root) / "run.log"
    with output_errors(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as handle:
            handle.write(f"{now()} {text}\n")
