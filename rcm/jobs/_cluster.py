"""Where a batch job runs: a local Dask cluster, SLURM jobs, or an existing scheduler.

A job file's ``cluster:`` section becomes a `ClusterSpec`; `open_client` starts what it
says and yields a `distributed.Client`. Every worker runs one mosaic at a time (one
dask thread) and gives torch the CPU threads instead, because a task is a whole
mosaic whose tiles already run in parallel inside it. Dask's nanny starts workers
with ``OMP_NUM_THREADS=1``, so a worker plugin sets torch's thread count itself.

GPUs are Dask *resources*: a worker that owns a GPU advertises ``{"GPU": n}`` and a
task of a GPU job asks for ``{"GPU": 1}``, so two mosaics never share a GPU. On a
local machine each worker is also pinned to its own device (``CUDA_VISIBLE_DEVICES``),
by dask_cuda's ``LocalCUDACluster`` when it is installed, else by the same worker
plugin, which picks the device from the worker's index (its name, ``0``, ``1``, ...).

distributed, dask-jobqueue (the optional ``hpc`` extra) and torch are imported when
a cluster starts, never when this module is.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import shlex
import sys
from collections.abc import Iterator, Mapping
from dataclasses import MISSING, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from dask.utils import parse_bytes

from rcm.errors import BackendMissingError, InputError

if TYPE_CHECKING:
    from distributed import Client

ClusterKind = Literal["local", "slurm", "address"]
KINDS: tuple[str, ...] = ("local", "slurm", "address")

_WALLTIME = re.compile(r"(?:\d+-(?:[01]?\d|2[0-3])|\d+):[0-5]\d:[0-5]\d")  # [D-]HH:MM:SS
# Neither scheduler nor dashboard listens beyond this machine unless a cluster needs it.
_LOOPBACK = "127.0.0.1"
_PLACEHOLDER_SCHEDULER = "tcp://<scheduler-address>:8786"
_PLUGIN_NAME = "rcm-worker-setup"


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
    walltime: str | None = None
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
            # YAML reads an unquoted 4:00:00 as the number 14400 (base 60).
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

    ca_file: str
    cert: str
    key: str

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
        """Validate the ``cluster:`` section of a job file.

        Args:
            data: The section as YAML loaded it.
            source: What the section comes from, named in error messages.
            base: Folder that relative TLS file paths are relative to (the job
                file's); None keeps them relative to the working directory.

        Raises:
            ValueError: Naming the unknown key or the field at fault, and `source`.

        """
        mapping = _known_keys(data, "cluster", _fields(cls), source)
        values = dict(mapping)
        if "slurm" in values:
            slurm = _known_keys(values["slurm"], "cluster.slurm", _fields(SlurmSpec), source)
            values["slurm"] = _build(
                SlurmSpec, _slurm_values(slurm, source), "cluster.slurm", source
            )
            if "gpus_per_worker" not in values and values.get("kind") == "slurm":
                values["gpus_per_worker"] = values["slurm"].gpus // values["slurm"].processes
        if "tls" in values:
            tls = dict(_known_keys(values["tls"], "cluster.tls", _fields(TlsFiles), source))
            for name, path in tls.items():
                if isinstance(path, str) and base is not None:
                    tls[name] = str(Path(base) / path)  # an absolute path stays absolute
            missing = sorted(set(_fields(TlsFiles)) - set(tls))
            if missing:
                raise ValueError(f"cluster.tls: missing {', '.join(missing)} ({source})")
            values["tls"] = _build(TlsFiles, tls, "cluster.tls", source)
        return _build(cls, values, "cluster", source)


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


@contextlib.contextmanager
def open_client(spec: ClusterSpec) -> Iterator[Client]:
    """Start (or reach) the cluster the spec describes; close what was started on exit.

    Raises:
        InputError: The spec cannot run here (GPUs asked for but none seen, an
            unreachable scheduler, no worker offering GPUs).
        BackendMissingError: kind ``slurm`` without dask-jobqueue installed.

    """
    if spec.kind == "address":
        with _connect(spec) as client:
            yield client
    elif spec.kind == "slurm":
        with _open_slurm(spec) as client:
            yield client
    else:
        plan = _local_plan(
            spec, devices=_visible_gpus(), cpus=_usable_cpus(), dask_cuda=_has_dask_cuda()
        )
        with _open_local(plan) as client:
            yield client


def slurm_job_script(spec: ClusterSpec) -> str:
    """The batch script each SLURM job of the spec would run, without submitting any.

    The scheduler address in it is a placeholder: the real one exists once
    `open_client` starts the scheduler.

    Raises:
        ValueError: The spec is not of kind ``slurm``.
        BackendMissingError: dask-jobqueue is not installed.

    """
    if spec.kind != "slurm":
        raise ValueError(f"a job script needs kind 'slurm', got {spec.kind!r}")
    cluster_cls = _slurm_cluster_class()
    # The job class alone writes the script: a SLURMCluster would start a scheduler.
    job = cluster_cls.job_cls(_PLACEHOLDER_SCHEDULER, name="dummy-name", **_slurm_job_kwargs(spec))
    return str(job.job_script())


# --- local clusters -----------------------------------------------------------------


@dataclass(frozen=True)
class _LocalPlan:
    """A local cluster sized to this machine: constructor arguments and worker setup."""

    workers: int
    threads: int
    use_dask_cuda: bool
    kwargs: dict[str, Any]
    # GPUs the plugin pins workers to, `per_worker` each; empty when nothing is pinned.
    devices: tuple[str, ...] = ()
    per_worker: int = 0


def _local_plan(
    spec: ClusterSpec, *, devices: tuple[str, ...], cpus: int, dask_cuda: bool
) -> _LocalPlan:
    """Size a local cluster for a machine with these GPUs (device ids) and CPUs."""
    gpus = spec.gpus_per_worker
    if gpus and len(devices) < gpus:
        raise InputError(
            None,
            f"cluster.gpus_per_worker is {gpus} but torch sees {len(devices)} CUDA GPU(s) here",
        )
    if spec.workers is not None:
        workers = spec.workers
    elif devices:
        workers = len(devices) // max(gpus, 1)
    else:
        workers = max(1, cpus // 4)
    if gpus and workers * gpus > len(devices):
        raise InputError(
            None,
            f"{workers} workers x {gpus} GPU(s) need {workers * gpus} GPUs; "
            f"torch sees {len(devices)}",
        )
    threads = spec.threads or max(1, cpus // workers)
    kwargs: dict[str, Any] = {
        "n_workers": workers,
        "threads_per_worker": 1,  # one mosaic at a time per worker
        "processes": True,
        "host": _LOOPBACK,
        # The scheduler serves health and metrics pages even without a dashboard; a
        # free port rather than 8787 lets several jobs and notebooks run side by side.
        "dashboard_address": f"{_LOOPBACK}:0",
        "scheduler_kwargs": {"dashboard": spec.dashboard},
        "memory_limit": spec.memory_limit or "auto",
    }
    if gpus:
        kwargs["resources"] = {"GPU": gpus}
    # dask_cuda pins one GPU per worker; other layouts are pinned by the plugin.
    use_dask_cuda = dask_cuda and bool(devices) and gpus <= 1 and workers <= len(devices)
    if use_dask_cuda:
        kwargs["CUDA_VISIBLE_DEVICES"] = ",".join(devices[:workers])
        return _LocalPlan(workers, threads, True, kwargs)
    return _LocalPlan(workers, threads, False, kwargs, devices, max(gpus, 1) if devices else 0)


@contextlib.contextmanager
def _open_local(plan: _LocalPlan) -> Iterator[Client]:
    import dask
    from distributed import Client, LocalCluster

    cluster_cls: Any = LocalCluster
    if plan.use_dask_cuda:
        from dask_cuda import LocalCUDACluster

        cluster_cls = LocalCUDACluster
    environ = {"distributed.nanny.pre-spawn-environ": worker_environment(plan.threads)}
    with (
        dask.config.set(environ),
        _without_inherited_trim(),
        cluster_cls(**plan.kwargs) as cluster,
        Client(cluster) as client,
    ):
        client.register_plugin(_worker_setup(plan.threads, plan.per_worker, plan.devices))
        yield client


def worker_environment(threads: int) -> dict[str, str]:
    """Environment of worker processes, in place of distributed's defaults.

    distributed starts workers with ``MALLOC_TRIM_THRESHOLD_=65536``, which fixes
    glibc's mmap threshold so every large tensor is a fresh mmap and its pages are
    faulted in again: a CPU forward pass measured 1.4x slower. It also sets the
    thread variables to 1; a worker runs one mosaic with `threads` threads.
    """
    count = str(threads)
    return {"OMP_NUM_THREADS": count, "MKL_NUM_THREADS": count, "OPENBLAS_NUM_THREADS": count}


@contextlib.contextmanager
def _without_inherited_trim() -> Iterator[None]:
    """Start workers without the pre-spawn variables an earlier cluster left behind.

    distributed's nanny puts its pre-spawn variables (the malloc trim threshold,
    one-thread settings) into this process's own environment, where they stay: a
    cluster started earlier in the same process would hand them on to every
    later worker. They are set aside while workers start, then put back.
    """
    names = ("MALLOC_TRIM_THRESHOLD_", *worker_environment(1))
    inherited = {name: os.environ.pop(name) for name in names if name in os.environ}
    try:
        yield
    finally:
        for name in names:
            os.environ.pop(name, None)
        os.environ.update(inherited)


def _visible_gpus() -> tuple[str, ...]:
    """Ids of the CUDA devices torch sees, as ``CUDA_VISIBLE_DEVICES`` names them."""
    import torch

    count = torch.cuda.device_count()
    named = os.environ.get("CUDA_VISIBLE_DEVICES")
    if named is None:
        return tuple(str(index) for index in range(count))
    return tuple(name.strip() for name in named.split(",") if name.strip())[:count]


def _usable_cpus() -> int:
    """CPUs this process may run on (a SLURM allocation or taskset limits them)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _has_dask_cuda() -> bool:
    try:
        import dask_cuda  # noqa: F401
    except ImportError:
        return False
    return True


# --- SLURM --------------------------------------------------------------------------


def _slurm_cluster_class() -> Any:
    try:
        from dask_jobqueue import SLURMCluster
    except ImportError as error:
        raise BackendMissingError(
            "cluster kind 'slurm' needs dask-jobqueue: pip install 'rcm[hpc]' "
            f"(or pip install dask-jobqueue) ({error})"
        ) from error
    return SLURMCluster


def _slurm_job_kwargs(spec: ClusterSpec) -> dict[str, Any]:
    """dask-jobqueue's job arguments: what each SLURM job asks for and runs."""
    slurm = spec.slurm
    assert slurm is not None  # checked on construction
    directives = list(slurm.job_extra_directives)
    worker_args: list[str] = []
    if slurm.gpus:
        directives.append(f"--gres=gpu:{slurm.gpus}")
        worker_args += ["--resources", f"GPU={spec.gpus_per_worker}"]
    kwargs: dict[str, Any] = {
        # dask-jobqueue gives each worker cores / processes dask threads; one mosaic at
        # a time per worker means one dask thread, so the job's CPUs go in job_cpu.
        "cores": slurm.processes,
        "job_cpu": slurm.cores,
        "processes": slurm.processes,
        "memory": slurm.memory,
        "job_extra_directives": directives,
        "worker_extra_args": worker_args,
        # Remote nannies read their own configuration: hand it the same environment.
        "job_script_prologue": [
            "export DASK_DISTRIBUTED__NANNY__PRE_SPAWN_ENVIRON="
            + shlex.quote(json.dumps(worker_environment(spec.threads or slurm.threads))),
            *slurm.job_script_prologue,
        ],
        "python": slurm.python or sys.executable,
        "job_name": "rcm-worker",
    }
    optional = {
        "queue": slurm.queue,
        "account": slurm.account,
        "walltime": slurm.walltime,
        "local_directory": slurm.local_directory,
        "log_directory": slurm.log_directory,
        "interface": slurm.interface,
    }
    # None would be read as "use dask-jobqueue's configuration" anyway; leave it to it.
    kwargs.update({key: value for key, value in optional.items() if value is not None})
    return kwargs


@contextlib.contextmanager
def _open_slurm(spec: ClusterSpec) -> Iterator[Client]:
    from distributed import Client

    slurm = spec.slurm
    assert slurm is not None  # checked on construction
    cluster_cls = _slurm_cluster_class()
    # Workers on other nodes reach the scheduler on its network address; the
    # dashboard (and health/metrics pages) stays on 127.0.0.1: use ssh -L to see it.
    scheduler_options = {"dashboard_address": f"{_LOOPBACK}:0", "dashboard": spec.dashboard}
    with (
        cluster_cls(**_slurm_job_kwargs(spec), scheduler_options=scheduler_options) as cluster,
        Client(cluster) as client,
    ):
        # Registered before any job starts: each worker gets it when it joins. A job
        # with one worker leaves it all the job's GPUs; several share them out.
        per_worker = spec.gpus_per_worker if slurm.processes > 1 else 0
        client.register_plugin(_worker_setup(spec.threads or slurm.threads, per_worker, None))
        if slurm.adaptive is not None:
            cluster.adapt(minimum_jobs=slurm.adaptive.minimum, maximum_jobs=slurm.adaptive.maximum)
        else:
            cluster.scale(jobs=slurm.jobs or 1)
        yield client


# --- an existing scheduler ----------------------------------------------------------


@contextlib.contextmanager
def _connect(spec: ClusterSpec) -> Iterator[Client]:
    from distributed import Client
    from distributed.security import Security

    security = None
    if spec.tls is not None:
        security = Security(
            tls_ca_file=spec.tls.ca_file,
            tls_client_cert=spec.tls.cert,
            tls_client_key=spec.tls.key,
            require_encryption=True,
        )
    try:
        client = Client(spec.address, security=security)
    except OSError as error:
        raise InputError(None, f"cannot reach the scheduler at {spec.address} ({error})") from error
    with client:
        if spec.gpus_per_worker:
            _check_gpu_workers(client, spec)
        yield client


def _check_gpu_workers(client: Client, spec: ClusterSpec) -> None:
    """Tasks asking for a GPU wait forever where no worker has one: fail now instead."""
    workers = client.scheduler_info(n_workers=-1)["workers"]
    if workers and not any(w.get("resources", {}).get("GPU", 0) >= 1 for w in workers.values()):
        raise InputError(
            None,
            f"cluster.gpus_per_worker is {spec.gpus_per_worker} but no worker of {spec.address} "
            "offers a GPU; start the workers with --resources GPU=1",
        )


# --- worker setup -------------------------------------------------------------------


def _worker_setup(threads: int, per_worker: int, devices: tuple[str, ...] | None) -> Any:
    """The plugin that pins a worker to its GPUs (when `per_worker`) and sets torch threads.

    Args:
        threads: ``torch.set_num_threads`` of each worker.
        per_worker: GPUs each worker is pinned to; 0 pins nothing.
        devices: All GPUs to share out; None is the worker's own ``CUDA_VISIBLE_DEVICES``
            (a SLURM job's GPUs, shared by the job's worker processes).

    """
    return _worker_setup_class()(threads, per_worker, devices)


@functools.cache
def _worker_setup_class() -> type:
    # Defined on first use so importing this module does not import distributed; the
    # class travels to the workers by value (cloudpickle).
    from distributed.diagnostics.plugin import WorkerPlugin

    class WorkerSetup(WorkerPlugin):
        name = _PLUGIN_NAME  # registering again replaces it

        def __init__(self, threads: int, per_worker: int, devices: tuple[str, ...] | None):
            self.threads = threads
            self.per_worker = per_worker
            self.devices = devices

        def setup(self, worker: Any) -> None:
            if self.per_worker:
                # Before torch touches CUDA in this process; workers are fresh processes.
                os.environ["CUDA_VISIBLE_DEVICES"] = _pinned_devices(
                    worker.name, self.per_worker, self.devices
                )
            import torch

            torch.set_num_threads(self.threads)

    return WorkerSetup


def _pinned_devices(name: object, per_worker: int, devices: tuple[str, ...] | None) -> str:
    """``CUDA_VISIBLE_DEVICES`` of the worker called `name`, chosen by its trailing number.

    Local workers are called 0, 1, ...; a SLURM job's worker processes end in -0, -1, ...
    More workers than GPUs share them round-robin.
    """
    match = re.search(r"(\d+)$", str(name))
    index = int(match.group(1)) if match else 0
    if devices is None:
        named = os.environ.get("CUDA_VISIBLE_DEVICES")
        devices = tuple(d.strip() for d in named.split(",") if d.strip()) if named else ()
    if not devices:  # nothing named them: CUDA numbers devices 0, 1, ...
        return ",".join(str(index * per_worker + k) for k in range(per_worker))
    start = index * per_worker % len(devices)
    return ",".join(devices[start : start + per_worker])


# --- validation helpers -------------------------------------------------------------


def _fields(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls))


def _known_keys(value: Any, where: str, allowed: tuple[str, ...], source: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"{where} must be a mapping, got {type(value).__name__} ({source})")
    unknown = sorted(str(key) for key in set(value) - set(allowed))
    if unknown:
        raise ValueError(
            f"{where}: unknown key(s) {', '.join(unknown)} ({source}); "
            f"allowed keys: {', '.join(allowed)}"
        )
    return value


def _slurm_values(slurm: Mapping[str, Any], source: str) -> dict[str, Any]:
    """Turn YAML lists and mappings into the tuples and `Adaptive` that `SlurmSpec` holds."""
    values = dict(slurm)
    for name in ("job_extra_directives", "job_script_prologue"):
        if isinstance(values.get(name), list):
            values[name] = tuple(values[name])
    if "adaptive" in values:
        bounds = _known_keys(
            values["adaptive"], "cluster.slurm.adaptive", _fields(Adaptive), source
        )
        values["adaptive"] = _build(Adaptive, bounds, "cluster.slurm.adaptive", source)
    return values


def _build(cls: Any, values: Mapping[str, Any], where: str, source: str) -> Any:
    """``cls(**values)``, its errors prefixed with where in which file they are."""
    try:
        return cls(**values)
    except TypeError as error:  # a required field is missing
        missing = [f.name for f in fields(cls) if f.name not in values and _required(f)]
        raise ValueError(f"{where}: missing {', '.join(missing) or error} ({source})") from error
    except ValueError as error:
        raise ValueError(f"{where}: {error} ({source})") from error


def _required(spec_field: Any) -> bool:
    return bool(spec_field.default is MISSING and spec_field.default_factory is MISSING)


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
