"""What a job has done, on disk: one manifest per finished mosaic, failures, the run log.

Layout under the output root::

    ID.rcm/                  the mosaic's outputs (written atomically by rcm infer)
    ID.zarr/                 the converted mosaic (convert stage)
    _job/manifests/ID.json   written after the outputs: inputs' identity, fingerprint
    _job/failures.csv        quarantined mosaics and why
    _job/plan.json           every mosaic of the last run and its state then
    _job/run.log             one line per event

A mosaic is done when its manifest's fingerprint (mosaic checksum, model
checksum, stage configuration, rcm version) matches the job's and its outputs
exist. Outputs without a manifest come from a run that died between the two
writes: they are redone. The mosaic checksum is trusted from the manifest while
the file's size and modification time are unchanged, so planning a re-run of
thousands of mosaics does not re-read them all.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from rcm._version import __version__

JOB_FOLDER = "_job"
FAILURE_COLUMNS = ("mosaic_id", "path", "error", "attempts", "size", "mtime_ns", "fingerprint")


@dataclass(frozen=True)
class FileIdentity:
    """Enough to tell whether a file changed: size and mtime (cheap), checksum (certain)."""

    size: int
    mtime_ns: int
    checksum: str | None = None

    @classmethod
    def of(cls, path: str | os.PathLike[str], checksum: str | None = None) -> FileIdentity | None:
        try:
            stat = Path(path).stat()
        except OSError:
            return None
        return cls(stat.st_size, stat.st_mtime_ns, checksum)

    def same_file(self, other: FileIdentity | None) -> bool:
        return other is not None and (self.size, self.mtime_ns) == (other.size, other.mtime_ns)


@dataclass(frozen=True)
class Manifest:
    """Proof that a mosaic's outputs are complete, and of what."""

    mosaic_id: str
    fingerprint: str
    mosaic_path: str
    mosaic: FileIdentity
    model_checksum: str
    outputs: tuple[str, ...]
    finished: str
    rcm: str = __version__


def fingerprint(mosaic_checksum: str | None, model_checksum: str, config: dict[str, Any]) -> str:
    """Identity of one mosaic's work: change any input or option and it changes."""
    text = json.dumps(
        {"mosaic": mosaic_checksum, "model": model_checksum, "config": config, "rcm": __version__},
        sort_keys=True,
    )
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def job_folder(root: Path) -> Path:
    return root / JOB_FOLDER


def manifest_path(root: Path, mosaic_id: str) -> Path:
    return job_folder(root) / "manifests" / f"{mosaic_id}.json"


def read_manifest(root: Path, mosaic_id: str) -> Manifest | None:
    """The mosaic's manifest, or None when missing or unreadable (then it is redone)."""
    try:
        data = json.loads(manifest_path(root, mosaic_id).read_text())
        data["mosaic"] = FileIdentity(**data["mosaic"])
        data["outputs"] = tuple(data["outputs"])
        return Manifest(**data)
    except (OSError, ValueError, TypeError, KeyError):
        return None


def write_json_atomically(path: Path, data: Any) -> None:
    """Write JSON through a temporary file and a rename: readers see all or nothing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial-{os.getpid()}")
    partial.write_text(json.dumps(data, indent=2, sort_keys=True))
    partial.replace(path)


def write_manifest(root: Path, manifest: Manifest) -> None:
    write_json_atomically(manifest_path(root, manifest.mosaic_id), asdict(manifest))


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def read_failures(root: Path) -> dict[str, dict[str, str]]:
    """Quarantined mosaics of earlier runs, by id."""
    path = job_folder(root) / "failures.csv"
    if not path.exists():
        return {}
    with path.open(newline="") as handle:
        return {row["mosaic_id"]: row for row in csv.DictReader(handle)}


def write_failures(root: Path, rows: list[dict[str, Any]]) -> None:
    path = job_folder(root) / "failures.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial-{os.getpid()}")
    with partial.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, FAILURE_COLUMNS)
        writer.writeheader()
        for row in sorted(rows, key=lambda r: r["mosaic_id"]):
            writer.writerow({key: row.get(key, "") for key in FAILURE_COLUMNS})
    partial.replace(path)


def log_line(root: Path, text: str) -> None:
    """Append one timestamped line to the run log."""
    path = job_folder(root) / "run.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        handle.write(f"{now()} {text}\n")
