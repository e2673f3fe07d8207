"""The typed cluster section of a job file: `ClusterSpec` and its SLURM and TLS parts.

`read_cluster` builds it from YAML with `rcm.config`'s rules; the ``__post_init__``
checks (ranges, which keys fit which kind) hold for specs built in code as well.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from dask.utils import parse_bytes

from rcm.config import ConfigError, custom, from_mapping

ClusterKind = Literal["local", "slurm", "address"]
KINDS: tuple[str, ...] = ("local", "slurm", "address")

_WALLTIME = re.compile(r"(?:\d+-(?:[01]?\d|2[0-3])|\d+):[0-5]\d:[0-5]\d")  # [D-]HH:MM:SS


def _walltime_text(value: Any, base: Path | None) -> str | None:
    # YAML reads an unquoted 4:00:00 as the number 14400 (base 60).
    if value is not None and not isinstance(value, str):
        raise ValueError(f"must be a quoted string like '04:00:00', got {value!r}")
    return value


def _pem_path(value: Any, base: Path | None) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"must be a file path, got {value!r}")
    return value if base is None else str(base / value)  # an absolute path stays absolute


@dataclass(frozen=True)
class Adaptive:
    """Bounds of an adaptive SLURM cluster, in jobs."""

    minimum: int = 0
    maximum: int = 1

    def __post_init__(self) -> None:
        _check_int("minimum", self.minimum, minimum=0)
        _check_int("maximum", self.maximum, minimum=1)
        if self.minimum > self.maximum:
            raise ValueError(f"minimum ({self.minimum}) is above maximum ({self.maximum})")


@dataclass(frozen=True)
class SlurmSpec:
    """SLURM jobs that each run `processes` Dask workers (dask-jobqueue's ``SLURMCluster``).

    Attributes:
        cores: CPUs of one job (``--cpus-per-task``); its workers share them as torch
            threads, each worker running one mosaic at a time.
        memory: Memory of one job (``--mem``), e.g. ``"64GB"``; split between its workers.
        queue: Partition (``-p``); None uses dask-jobqueue's configuration.
        account: Account charged (``-A``); None uses dask-jobqueue's configuration.
        walltime: ``HH:MM:SS`` or ``D-HH:MM:SS`` (``-t``); None uses dask-jobqueue's
            configuration (30 minutes unless the site changed it).
        gpus: GPUs of one job (``--gres=gpu:N``), shared evenly by its workers.
        processes: Dask workers per job.
        jobs: Jobs kept running; None with no `adaptive` means one.
        adaptive: Scale between these many jobs with the load, instead of `jobs`.
        job_extra_directives: More ``#SBATCH`` lines, e.g. ``"--constraint=a100"``.
        local_directory: Workers' scratch folder on the compute nodes.
        log_directory: Folder of the jobs' stdout and stderr files (created now).
        python: Interpreter of the workers; None is the one submitting the jobs.
        job_script_prologue: Shell lines run before the worker starts (module loads).
        interface: Network interface of the scheduler and workers, e.g. ``"ib0"``.

    """

    cores: int
    memory: str
    queue: str | None = None
    account: str | None = None
    walltime: str | None = field(default=None, metadata=custom(_walltime_text))
    gpus: int = 0
    processes: int = 1
    jobs: int | None = None
    adaptive: Adaptive | None = None
    job_extra_directives: tuple[str, ...] = ()
    local_directory: str | None = None
    log_directory: str | None = None
    python: str | None = None
    job_script_prologue: tuple[str, ...] = ()
    interface: str | None = None

    def __post_init__(self) -> None:
        _check_int("cores", self.cores, minimum=1)
        _check_bytes("memory", self.memory)
        _check_int("gpus", self.gpus, minimum=0)
        _check_int("processes", self.processes, minimum=1)
        for name in ("queue", "account", "local_directory", "log_directory", "python", "interface"):
            _check_optional_str(name, getattr(self, name))
        if self.walltime is not None:
            if not isinstance(self.walltime, str):
                raise ValueError(
                    f"walltime must be a quoted string like '04:00:00', got {self.walltime!r}"
                )
            if not _WALLTIME.fullmatch(self.walltime) or not self.walltime.strip("0:-"):
                raise ValueError(
                    f"walltime must be HH:MM:SS or D-HH:MM:SS (not zero), got {self.walltime!r}"
                )
        if self.cores < self.processes:
            raise ValueError(f"cores ({self.cores}) must be at least processes ({self.processes})")
        if self.gpus % self.processes:
            raise ValueError(
                f"gpus ({self.gpus}) must be a multiple of processes ({self.processes}): "
                "every worker owns the same number of GPUs"
            )
        if self.jobs is not None:
            _check_int("jobs", self.jobs, minimum=1)
            if self.adaptive is not None:
                raise ValueError("give jobs (a fixed number) or adaptive, not both")
        if self.adaptive is not None and not isinstance(self.adaptive, Adaptive):
            raise ValueError(f"adaptive must be an Adaptive, got {self.adaptive!r}")
        for name in ("job_extra_directives", "job_script_prologue"):
            lines = getattr(self, name)
            if not isinstance(lines, tuple) or not all(isinstance(s, str) for s in lines):
                raise ValueError(f"{name} must be a list of strings, got {lines!r}")

    @property
    def threads(self) -> int:
        """Torch threads of each worker: the job's cores shared by its workers."""
        return self.cores // self.processes


@dataclass(frozen=True)
class TlsFiles:
    """PEM files with which the client proves itself to a TLS scheduler.

    Attributes:
        ca_file: Certificate authority that signed the scheduler's certificate.
        cert: The client's certificate.
        key: The client's private key.

    """

    ca_file: str = field(metadata=custom(_pem_path))
    cert: str = field(metadata=custom(_pem_path))
    key: str = field(metadata=custom(_pem_path))

    def __post_init__(self) -> None:
        for name in ("ca_file", "cert", "key"):
            path = getattr(self, name)
            if not isinstance(path, str) or not path:
                raise ValueError(f"{name} must be a file path, got {path!r}")
            if not Path(path).is_file():
                raise ValueError(f"{name}: no such file {path}")


@dataclass(frozen=True)
class ClusterSpec:
    """Where and how the workers of a batch job run.

    Attributes:
        kind: ``local`` (this machine), ``slurm`` (jobs submitted from this machine)
            or ``address`` (a scheduler somebody else started).
        workers: Local workers; None is one per GPU torch sees, else one per 4 CPUs.
        threads: Torch threads per worker; None shares the CPUs between the local
            workers, or a SLURM job's cores between its workers.
        memory_limit: Memory of each local worker, e.g. ``"8GB"``; None lets Dask
            share the machine's memory.
        dashboard: Serve the Dask dashboard (on 127.0.0.1 only) for local and SLURM
            clusters.
        gpus_per_worker: GPUs each worker owns; tasks then ask for one, so two
            mosaics never share a GPU. For SLURM it is ``slurm.gpus / slurm.processes``;
            with an existing scheduler its workers must offer ``--resources GPU=N``.
        slurm: The SLURM jobs (kind ``slurm`` only).
        address: ``tcp://host:port`` or ``tls://host:port`` (kind ``address`` only).
        tls: Client certificates, needed by a ``tls://`` address.

    """

    kind: ClusterKind = "local"
    workers: int | None = None
    threads: int | None = None
    memory_limit: str | None = None
    dashboard: bool = True
    gpus_per_worker: int = 0
    slurm: SlurmSpec | None = None
    address: str | None = None
    tls: TlsFiles | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if self.workers is not None:
            _check_int("workers", self.workers, minimum=1)
        if self.threads is not None:
            _check_int("threads", self.threads, minimum=1)
        if self.memory_limit is not None:
            _check_bytes("memory_limit", self.memory_limit)
        if not isinstance(self.dashboard, bool):
            raise ValueError(f"dashboard must be true or false, got {self.dashboard!r}")
        _check_int("gpus_per_worker", self.gpus_per_worker, minimum=0)
        allowed = _KIND_FIELDS[self.kind]
        for name in ("workers", "memory_limit", "threads", "slurm", "address", "tls"):
            if getattr(self, name) is not None and name not in allowed:
                raise ValueError(f"{name} does not apply to kind {self.kind!r}")
        if self.kind == "slurm":
            self._check_slurm()
        if self.kind == "address":
            self._check_address()

    def _check_slurm(self) -> None:
        if not isinstance(self.slurm, SlurmSpec):
            raise ValueError("kind 'slurm' needs a slurm section (at least cores and memory)")
        per_worker = self.slurm.gpus // self.slurm.processes
        if self.gpus_per_worker != per_worker:
            raise ValueError(
                f"gpus_per_worker ({self.gpus_per_worker}) must equal slurm gpus / processes "
                f"({per_worker}); leave it out of the job file to get that"
            )

    def _check_address(self) -> None:
        if not isinstance(self.address, str):
            raise ValueError("kind 'address' needs address: tcp://host:port or tls://host:port")
        parts = urlsplit(self.address)
        try:
            port = parts.port
        except ValueError:
            port = None
        if parts.scheme not in ("tcp", "tls") or not parts.hostname or port is None:
            raise ValueError(
                f"address must be tcp://host:port or tls://host:port, got {self.address!r}"
            )
        if parts.scheme == "tls" and self.tls is None:
            raise ValueError("a tls:// address needs tls: {ca_file, cert, key}")
        if parts.scheme == "tcp" and self.tls is not None:
            raise ValueError("tls is given but the address is tcp://; use tls://host:port")

    @classmethod
    def from_mapping(
        cls,
        data: Mapping[str, Any],
        *,
        source: str = "job file",
        base: str | os.PathLike[str] | None = None,
    ) -> ClusterSpec:
        """Validate the ``cluster:`` section of a job file (see `read_cluster`).

        Args:
            data: The section as YAML loaded it.
            source: What the section comes from, named in error messages.
            base: Folder that relative TLS file paths are relative to (the job
                file's); None keeps them relative to the working directory.

        Raises:
            ConfigError: Naming the key path at fault and `source` (a ``ValueError``).

        """
        try:
            return read_cluster(data, base=None if base is None else Path(base))
        except ConfigError as error:
            raise ConfigError(error.key, f"{error.reason} ({source})") from error


def read_cluster(data: Any, *, where: str = "cluster", base: Path | None = None) -> ClusterSpec:
    """Build a `ClusterSpec` from YAML with `rcm.config.from_mapping`'s rules.

    Left out of a ``slurm`` section, ``gpus_per_worker`` is the job's GPUs shared by
    its worker processes.

    Args:
        data: The section as YAML loaded it.
        where: Key path of the section, named in error messages.
        base: Folder that relative TLS file paths are relative to.

    Raises:
        ConfigError: Naming the key path and the rule broken.

    """
    values = data
    slurm = data.get("slurm") if isinstance(data, Mapping) else None
    if isinstance(slurm, Mapping) and data.get("kind") == "slurm" and "gpus_per_worker" not in data:
        jobs = from_mapping(SlurmSpec, slurm, where=f"{where}.slurm" if where else "slurm")
        values = {**data, "gpus_per_worker": jobs.gpus // jobs.processes}
    return from_mapping(ClusterSpec, values, where=where, base=base)


_KIND_FIELDS: dict[str, tuple[str, ...]] = {
    "local": ("workers", "threads", "memory_limit"),
    "slurm": ("threads", "slurm"),
    "address": ("address", "tls"),
}


def describe(spec: ClusterSpec) -> str:
    """One line for logs: what the spec starts or connects to."""
    gpus = f", {spec.gpus_per_worker} GPU each" if spec.gpus_per_worker else ""
    if spec.kind == "address":
        return f"existing scheduler at {spec.address}{' (TLS)' if spec.tls else ''}{gpus}"
    if spec.kind == "slurm":
        assert spec.slurm is not None  # checked on construction
        slurm = spec.slurm
        scale = (
            f"adaptive {slurm.adaptive.minimum}-{slurm.adaptive.maximum} jobs"
            if slurm.adaptive
            else f"{slurm.jobs or 1} job(s)"
        )
        where = f" on queue {slurm.queue}" if slurm.queue else ""
        job = f"{slurm.cores} cores, {slurm.memory}" + (f", {slurm.gpus} GPU" if slurm.gpus else "")
        return (
            f"SLURM cluster: {scale}{where} of {job}, {slurm.walltime or 'default walltime'}; "
            f"{slurm.processes} worker(s) per job x {spec.threads or slurm.threads} torch threads"
        )
    workers = spec.workers or "auto (per GPU or 4 CPUs)"
    return f"local cluster: {workers} workers x {spec.threads or 'auto'} torch threads{gpus}"


def _check_int(name: str, value: Any, *, minimum: int) -> None:
    # bool is an int in Python; "workers: yes" is a typo, not 1.
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be a whole number >= {minimum}, got {value!r}")


def _check_bytes(name: str, value: Any) -> None:
    try:
        valid = isinstance(value, str) and parse_bytes(value) > 0
    except ValueError:
        valid = False
    if not valid:
        raise ValueError(f"{name} must be an amount of memory like '8GB', got {value!r}")


def _check_optional_str(name: str, value: Any) -> None:
    if value is not None and (not isinstance(value, str) or not value):
        raise ValueError(f"{name} must be a string, got {value!r}")
