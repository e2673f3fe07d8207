"""What a batch job leaves on disk, typed: manifests, the plan, failures.

Layout under the job's output root::

    ID.rcm/                  the mosaic's outputs (written atomically by the infer stage)
    ID.zarr/                 the converted mosaic (convert stage)
    _job/manifests/ID.json   `Manifest`, written after the outputs
    _job/plan.json           `JobPlan`: every mosaic of the last run and its state then
    _job/failures.csv        `Failure` rows: quarantined mosaics and why
    _job/run.log             one line per event (read by people, not by rcm)

``failures.csv`` has no place for a version; ``plan.json``, written by the same
run, versions it.
"""

from __future__ import annotations

import csv
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Literal, get_args

from rcm._version import __version__
from rcm.errors import NewerFormatError, OutputFormatError
from rcm.io import atomic_file, read_document, require, write_document

JOB_FOLDER = "_job"
MANIFEST_VERSION = 1
PLAN_VERSION = 1

MosaicState = Literal["done", "pending", "changed", "partial", "quarantined", "retry"]


def job_folder(root: Path) -> Path:
    return root / JOB_FOLDER


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

    @staticmethod
    def path(root: Path, mosaic_id: str) -> Path:
        return job_folder(root) / "manifests" / f"{mosaic_id}.json"

    def write(self, root: Path) -> None:
        write_document(Manifest.path(root, self.mosaic_id), asdict(self), MANIFEST_VERSION)

    @classmethod
    def read(cls, root: Path, mosaic_id: str) -> Manifest | None:
        """The mosaic's manifest; None when missing or damaged (the mosaic is then redone).

        Raises:
            OutputFormatError: If a newer rcm wrote it (redoing would hide that).

        """
        path = cls.path(root, mosaic_id)
        if not path.exists():
            return None
        try:
            data, _ = read_document(path, "job manifest", MANIFEST_VERSION)
        except NewerFormatError:
            raise
        except OutputFormatError:
            return None
        data.pop("schema_version", None)  # version 0 (rcm 0.1.0) has the same fields
        try:
            data["mosaic"] = FileIdentity(**data["mosaic"])
            data["outputs"] = tuple(data["outputs"])
            return cls(**data)
        except (TypeError, KeyError):
            return None


@dataclass(frozen=True)
class PlanEntry:
    """One mosaic of a run's plan."""

    mosaic_id: str
    path: str
    state: MosaicState


@dataclass(frozen=True)
class JobPlan:
    """What the last run of a job set out to do."""

    job: str
    name: str
    mosaics: tuple[PlanEntry, ...]

    @staticmethod
    def path(root: Path) -> Path:
        return job_folder(root) / "plan.json"

    def write(self, root: Path) -> None:
        write_document(JobPlan.path(root), asdict(self), PLAN_VERSION)

    @classmethod
    def read(cls, root: Path) -> JobPlan:
        """The plan of the last run under `root`.

        Raises:
            OutputFormatError: If no job has run there, or the plan is damaged or newer.

        """
        path = cls.path(root)
        if not path.exists():
            raise OutputFormatError(root, f"no job has run here (no {path.name})")
        data, _ = read_document(path, "job plan", PLAN_VERSION)
        require(path, "job plan", data, ("job", "name", "mosaics"))
        try:
            mosaics = tuple(
                PlanEntry(str(item["mosaic_id"]), str(item["path"]), _state(item["state"]))
                for item in data["mosaics"]
            )
        except (TypeError, KeyError, ValueError) as error:
            raise OutputFormatError(path, f"job plan has a bad mosaic entry ({error})") from error
        return cls(str(data["job"]), str(data["name"]), mosaics)


def _state(value: Any) -> MosaicState:
    if value not in get_args(MosaicState):
        raise ValueError(f"unknown state {value!r}")
    return value


@dataclass(frozen=True)
class Failure:
    """A quarantined mosaic: why, how often, and the fingerprint it failed with."""

    mosaic_id: str
    path: str
    error: str
    attempts: int
    size: int | None
    mtime_ns: int | None
    fingerprint: str


FAILURE_COLUMNS = tuple(field.name for field in fields(Failure))


def failures_path(root: Path) -> Path:
    return job_folder(root) / "failures.csv"


def read_failures(root: Path) -> dict[str, Failure]:
    """Quarantined mosaics of earlier runs, by id (none when there is no file).

    Raises:
        OutputFormatError: If the file lacks a column or holds a bad number.

    """
    path = failures_path(root)
    if not path.exists():
        return {}
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        missing = sorted(set(FAILURE_COLUMNS) - set(reader.fieldnames or ()))
        if missing:
            raise OutputFormatError(path, f"failures table lacks {', '.join(missing)}")
        return {row["mosaic_id"]: _failure(path, row, reader.line_num) for row in reader}


def write_failures(root: Path, failures: list[Failure]) -> None:
    """Write every failure (sorted by id) through a temporary file and a rename."""
    path = failures_path(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path) as partial, partial.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, FAILURE_COLUMNS)
        writer.writeheader()
        for failure in sorted(failures, key=lambda item: item.mosaic_id):
            row: dict[str, Any] = asdict(failure)
            writer.writerow({key: "" if value is None else value for key, value in row.items()})


def _failure(path: Path, row: dict[str, str], line: int) -> Failure:
    try:
        return Failure(
            mosaic_id=row["mosaic_id"],
            path=row["path"],
            error=row["error"],
            attempts=int(row["attempts"] or 0),
            size=int(row["size"]) if row["size"] else None,
            mtime_ns=int(row["mtime_ns"]) if row["mtime_ns"] else None,
            fingerprint=row["fingerprint"],
        )
    except ValueError as error:
        raise OutputFormatError(path, f"line {line}: {error}") from error
