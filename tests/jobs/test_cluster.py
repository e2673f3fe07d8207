"""Cluster specs from job files, local clusters, SLURM job scripts, existing schedulers."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from rcm.errors import BackendMissingError, InputError
from rcm.jobs.cluster import (
    Adaptive,
    ClusterSpec,
    SlurmSpec,
    describe,
    open_client,
    slurm_job_script,
)
from rcm.jobs.cluster._local import local_plan
from rcm.jobs.cluster._slurm import slurm_job_kwargs
from rcm.jobs.cluster._worker import pinned_devices

SLURM = {"cores": 8, "memory": "64GB"}


def slurm_spec(**slurm: Any) -> ClusterSpec:
    return ClusterSpec.from_mapping({"kind": "slurm", "slurm": {**SLURM, **slurm}})


def probe() -> dict[str, Any]:
    """Run on a worker: what a task sees there."""
    import torch
    from distributed import get_worker

    return {
        "name": get_worker().name,
        "threads": torch.get_num_threads(),
        "cuda": os.environ.get("CUDA_VISIBLE_DEVICES"),
    }


# --- specs from job files -----------------------------------------------------------


def test_an_empty_section_is_a_local_cluster_sized_to_the_machine() -> None:
    spec = ClusterSpec.from_mapping({})
    assert spec == ClusterSpec()
    assert (spec.kind, spec.workers, spec.threads, spec.memory_limit) == ("local", None, None, None)
    assert spec.dashboard and spec.gpus_per_worker == 0
    assert spec.slurm is None and spec.address is None and spec.tls is None


def test_a_full_slurm_section_is_read() -> None:
    spec = ClusterSpec.from_mapping(
        {
            "kind": "slurm",
            "slurm": {
                **SLURM,
                "queue": "gpu",
                "walltime": "1-12:00:00",
                "gpus": 2,
                "processes": 2,
                "adaptive": {"minimum": 1, "maximum": 8},
                "job_extra_directives": ["--constraint=a100"],
                "job_script_prologue": ["module load cuda"],
            },
        }
    )
    assert spec.slurm is not None
    assert spec.slurm.adaptive == Adaptive(1, 8)
    assert spec.slurm.job_extra_directives == ("--constraint=a100",)
    assert spec.slurm.threads == 4
    assert spec.gpus_per_worker == 1  # 2 GPUs shared by 2 workers


@pytest.mark.parametrize(
    ("section", "named"),
    [
        ({"wokers": 2}, ["wokers", "workers", "cluster"]),
        ({"kind": "slurm", "slurm": {**SLURM, "queu": "gpu"}}, ["queu", "queue", "cluster.slurm"]),
        ({"kind": "address", "address": "tls://h:1", "tls": {"ca": "x"}}, ["ca", "ca_file"]),
        (
            {"kind": "slurm", "slurm": {**SLURM, "adaptive": {"max": 3}}},
            ["max", "maximum", "cluster.slurm.adaptive"],
        ),
    ],
)
def test_unknown_keys_are_named_with_the_allowed_ones(
    section: dict[str, Any], named: list[str]
) -> None:
    with pytest.raises(ValueError, match="unknown key") as caught:
        ClusterSpec.from_mapping(section, source="pipelines/x.yaml")
    for word in [*named, "pipelines/x.yaml"]:
        assert word in str(caught.value)


@pytest.mark.parametrize(
    ("section", "field"),
    [
        ({"workers": "two"}, "workers"),
        ({"workers": True}, "workers"),
        ({"workers": 0}, "workers"),
        ({"threads": 1.5}, "threads"),
        ({"memory_limit": "lots"}, "memory_limit"),
        ({"memory_limit": 8}, "memory_limit"),
        ({"dashboard": "yes"}, "dashboard"),
        ({"gpus_per_worker": -1}, "gpus_per_worker"),
        ({"kind": "kubernetes"}, "kind"),
        ({"kind": "slurm", "slurm": {**SLURM, "cores": "8"}}, "cores"),
        ({"kind": "slurm", "slurm": {**SLURM, "memory": "much"}}, "memory"),
        ({"kind": "slurm", "slurm": {**SLURM, "gpus": -1}}, "gpus"),
        ({"kind": "slurm", "slurm": {**SLURM, "jobs": 0}}, "jobs"),
        ({"kind": "slurm", "slurm": {**SLURM, "queue": 5}}, "queue"),
        ({"kind": "slurm", "slurm": {**SLURM, "job_extra_directives": "-C a100"}}, "directives"),
        ({"kind": "slurm", "slurm": {"cores": 8}}, "memory"),
        ({"kind": "slurm", "slurm": "gpu"}, "cluster.slurm"),
        ({"kind": "slurm", "slurm": {**SLURM, "adaptive": {"minimum": 3, "maximum": 2}}}, "min"),
    ],
)
def test_bad_values_are_rejected_naming_the_field(section: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        ClusterSpec.from_mapping(section)


def test_a_section_that_is_not_a_mapping_is_rejected() -> None:
    with pytest.raises(ValueError, match="cluster: must be a mapping"):
        ClusterSpec.from_mapping(["local"])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"slurm": SLURM}, "slurm does not apply to kind 'local'"),
        ({"kind": "slurm"}, "needs a slurm section"),
        ({"kind": "slurm", "workers": 2, "slurm": SLURM}, "workers does not apply"),
        ({"kind": "address", "address": "tcp://h:1", "threads": 2}, "threads does not apply"),
        ({"kind": "address"}, "needs address"),
        ({"address": "tcp://h:1"}, "address does not apply"),
    ],
)
def test_keys_of_another_kind_are_rejected(section: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ClusterSpec.from_mapping(section)


@pytest.mark.parametrize(
    "walltime", ["04:00:00", "4:30:00", "120:00:00", "1-12:00:00", "7-23:59:59"]
)
def test_walltimes_in_slurm_forms_are_accepted(walltime: str) -> None:
    assert slurm_spec(walltime=walltime).slurm == SlurmSpec(**SLURM, walltime=walltime)


@pytest.mark.parametrize(
    ("walltime", "message"),
    [
        ("4h", "HH:MM:SS"),
        ("04:60:00", "HH:MM:SS"),
        ("1-24:00:00", "HH:MM:SS"),
        ("00:00:00", "not zero"),
        ("04:00", "HH:MM:SS"),
        (14400, "quoted"),  # YAML 1.1 reads an unquoted 4:00:00 as 14400
    ],
)
def test_bad_walltimes_are_rejected(walltime: object, message: str) -> None:
    with pytest.raises(ValueError, match=f"walltime.*{message}"):
        slurm_spec(walltime=walltime)


def test_slurm_gpus_per_worker_follows_the_jobs_gpus() -> None:
    assert slurm_spec(gpus=1).gpus_per_worker == 1
    assert slurm_spec(gpus=4, processes=2).gpus_per_worker == 2
    assert (
        ClusterSpec.from_mapping(
            {"kind": "slurm", "gpus_per_worker": 1, "slurm": {**SLURM, "gpus": 1}}
        ).gpus_per_worker
        == 1
    )
    with pytest.raises(ValueError, match="gpus_per_worker"):
        ClusterSpec.from_mapping({"kind": "slurm", "gpus_per_worker": 1, "slurm": SLURM})
    with pytest.raises(ValueError, match="multiple of processes"):
        slurm_spec(gpus=1, processes=2)
    with pytest.raises(ValueError, match=r"jobs.*adaptive"):
        slurm_spec(jobs=2, adaptive={"minimum": 0, "maximum": 2})


@pytest.mark.parametrize(
    "address", ["http://h:8786", "tcp://h", "tcp://:8786", "h:8786", "tcp://h:port"]
)
def test_bad_scheduler_addresses_are_rejected(address: str) -> None:
    with pytest.raises(ValueError, match="tcp://host:port or tls://host:port"):
        ClusterSpec.from_mapping({"kind": "address", "address": address})


def pem_files(folder: Path) -> dict[str, str]:
    names = {"ca_file": "ca.pem", "cert": "client.pem", "key": "client.key"}
    for name in names.values():
        (folder / name).write_text("-----BEGIN CERTIFICATE-----\n")
    return names


def test_tls_needs_its_files(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"tls:// address needs tls"):
        ClusterSpec.from_mapping({"kind": "address", "address": "tls://h:8786"})
    files = pem_files(tmp_path)
    (tmp_path / files["key"]).unlink()
    tls = {name: str(tmp_path / file) for name, file in files.items()}
    with pytest.raises(ValueError, match=f"key: no such file {tmp_path / 'client.key'}"):
        ClusterSpec.from_mapping({"kind": "address", "address": "tls://h:8786", "tls": tls})
    with pytest.raises(ValueError, match="missing cert"):
        ClusterSpec.from_mapping(
            {"kind": "address", "address": "tls://h:8786", "tls": {"ca_file": "a", "key": "b"}}
        )


def test_relative_tls_files_are_relative_to_the_job_file(tmp_path: Path) -> None:
    files = pem_files(tmp_path)
    section = {"kind": "address", "address": "tls://h:8786", "tls": files}
    spec = ClusterSpec.from_mapping(section, base=tmp_path)
    assert spec.tls is not None and spec.tls.key == str(tmp_path / "client.key")
    with pytest.raises(ValueError, match="tls is given but the address is tcp://"):
        ClusterSpec.from_mapping({**section, "address": "tcp://h:8786"}, base=tmp_path)


def test_describe_says_what_runs_where() -> None:
    assert (
        describe(ClusterSpec(workers=2, threads=1)) == "local cluster: 2 workers x 1 torch threads"
    )
    line = describe(slurm_spec(queue="gpu", gpus=1, adaptive={"minimum": 1, "maximum": 8}))
    assert line.startswith("SLURM cluster: adaptive 1-8 jobs on queue gpu of 8 cores, 64GB, 1 GPU")
    assert "x 8 torch threads" in line
    assert describe(ClusterSpec(kind="address", address="tcp://h:8786")).endswith("tcp://h:8786")


def test_importing_the_module_starts_nothing_heavy() -> None:
    code = (
        "import sys, rcm.jobs.cluster; "
        "print([m for m in ('distributed', 'torch', 'dask_jobqueue') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --- local clusters -----------------------------------------------------------------


def test_local_sizing_follows_gpus_then_cpus() -> None:
    no_gpu = local_plan(ClusterSpec(), devices=(), cpus=16, dask_cuda=False)
    assert (no_gpu.workers, no_gpu.threads, no_gpu.devices) == (4, 4, ())
    assert "resources" not in no_gpu.kwargs
    tiny = local_plan(ClusterSpec(), devices=(), cpus=2, dask_cuda=False)
    assert (tiny.workers, tiny.threads) == (1, 2)
    gpus = local_plan(ClusterSpec(), devices=("0", "1", "2", "3"), cpus=32, dask_cuda=False)
    assert (gpus.workers, gpus.threads, gpus.per_worker) == (4, 8, 1)  # spread, not all on 0
    pairs = local_plan(
        ClusterSpec(gpus_per_worker=2), devices=("0", "1", "2", "3"), cpus=32, dask_cuda=True
    )
    assert (pairs.workers, pairs.per_worker, pairs.use_dask_cuda) == (2, 2, False)
    assert pairs.kwargs["resources"] == {"GPU": 2}
    cuda = local_plan(ClusterSpec(gpus_per_worker=1), devices=("4", "6"), cpus=8, dask_cuda=True)
    assert cuda.use_dask_cuda and cuda.kwargs["CUDA_VISIBLE_DEVICES"] == "4,6"
    assert cuda.kwargs["resources"] == {"GPU": 1} and cuda.per_worker == 0
    assert cuda.kwargs["threads_per_worker"] == 1 and cuda.kwargs["host"] == "127.0.0.1"
    with pytest.raises(InputError, match="torch sees 0 CUDA GPU"):
        local_plan(ClusterSpec(gpus_per_worker=1), devices=(), cpus=8, dask_cuda=False)
    with pytest.raises(InputError, match="need 3 GPUs"):
        local_plan(
            ClusterSpec(workers=3, gpus_per_worker=1), devices=("0", "1"), cpus=8, dask_cuda=False
        )


def test_local_kwargs_keep_everything_on_loopback() -> None:
    plan = local_plan(
        ClusterSpec(workers=3, threads=2, memory_limit="8GB", dashboard=False),
        devices=(),
        cpus=8,
        dask_cuda=False,
    )
    assert plan.kwargs == {
        "n_workers": 3,
        "threads_per_worker": 1,
        "processes": True,
        "host": "127.0.0.1",
        "dashboard_address": "127.0.0.1:0",
        "scheduler_kwargs": {"dashboard": False},
        "memory_limit": "8GB",
    }
    assert plan.threads == 2


def test_a_local_cluster_runs_on_loopback_with_torch_threads_and_one_gpu_per_worker(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import rcm.jobs.cluster._local as cluster_module

    # Device ids stand in for GPUs: the pinning is an environment variable, no CUDA needed.
    monkeypatch.setattr(cluster_module, "visible_gpus", lambda: ("3", "5"))
    monkeypatch.setattr(cluster_module, "has_dask_cuda", lambda: False)
    spec = ClusterSpec(workers=2, threads=3, gpus_per_worker=1)
    with open_client(spec) as client:
        assert client.scheduler.address.startswith("tcp://127.0.0.1:")
        workers = client.scheduler_info()["workers"]
        assert len(workers) == 2
        assert all(address.startswith("tcp://127.0.0.1:") for address in workers)
        assert [(w["nthreads"], w["resources"]) for w in workers.values()] == [(1, {"GPU": 1})] * 2
        assert urlsplit(client.dashboard_link).hostname == "127.0.0.1"
        futures = [client.submit(probe, pure=False, resources={"GPU": 1}) for _ in range(4)]
        seen = client.gather(futures)
    assert {(result["name"], result["cuda"]) for result in seen} <= {(0, "3"), (1, "5")}
    # Without the plugin a worker has 1 thread: dask's nanny sets OMP_NUM_THREADS=1.
    assert {result["threads"] for result in seen} == {3}


@pytest.mark.parametrize(
    ("name", "per_worker", "devices", "expected"),
    [
        (0, 1, ("3", "5"), "3"),
        (1, 1, ("3", "5"), "5"),
        (2, 1, ("3", "5"), "3"),  # more workers than GPUs: round-robin
        (1, 2, ("0", "1", "2", "3"), "2,3"),
        ("SLURMCluster-4-1", 1, ("GPU-aa", "GPU-bb"), "GPU-bb"),
        ("SLURMCluster-4-1", 1, (), "1"),  # nothing names the devices: CUDA's numbers
    ],
)
def test_workers_are_pinned_by_their_trailing_number(
    name: object, per_worker: int, devices: tuple[str, ...], expected: str
) -> None:
    assert pinned_devices(name, per_worker, devices) == expected


def test_slurm_workers_share_out_the_jobs_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "6,7")
    assert pinned_devices("SLURMCluster-0-1", 1, None) == "7"


# --- SLURM --------------------------------------------------------------------------


def test_the_slurm_job_script_asks_for_what_the_spec_says(tmp_path: Path) -> None:
    spec = slurm_spec(
        queue="gpu",
        account="dermatology",
        walltime="04:00:00",
        gpus=1,
        job_extra_directives=["--constraint=a100", "--exclusive"],
        job_script_prologue=["module load cuda/12.4"],
        local_directory="$TMPDIR",
        log_directory=str(tmp_path / "logs"),
        python="/opt/rcm/bin/python",
    )
    script = slurm_job_script(spec)
    lines = script.splitlines()
    for directive in (
        "#SBATCH -J rcm-worker",
        "#SBATCH -p gpu",
        "#SBATCH -A dermatology",
        "#SBATCH -t 04:00:00",
        "#SBATCH -n 1",
        "#SBATCH --cpus-per-task=8",
        "#SBATCH --mem=60G",  # 64 GB (10^9) rounded up to GiB, which SLURM calls G
        "#SBATCH --gres=gpu:1",
        "#SBATCH --constraint=a100",
        "#SBATCH --exclusive",
        f"#SBATCH -o {tmp_path / 'logs'}/rcm-worker-%J.out",
    ):
        assert directive in lines, directive
    assert "module load cuda/12.4" in lines
    command = lines[-1]
    assert command.startswith("/opt/rcm/bin/python -m distributed.cli.dask_worker tcp://")
    # One dask thread (one mosaic at a time); the 8 cores go to torch through the plugin.
    for part in ("--nthreads 1", "--memory-limit 59.60GiB", "--nanny", "--resources GPU=1"):
        assert part in command, part
    assert "--local-directory $TMPDIR" in command and "--nworkers" not in command


def test_the_slurm_job_script_splits_a_job_between_its_workers() -> None:
    script = slurm_job_script(slurm_spec(gpus=2, processes=2))
    command = script.splitlines()[-1]
    assert "--nworkers 2" in command and "--resources GPU=1" in command
    assert "--nthreads 1" in command and "--memory-limit 29.80GiB" in command
    assert "#SBATCH --cpus-per-task=8" in script and "#SBATCH --gres=gpu:2" in script
    assert "--gres" not in slurm_job_script(slurm_spec()) and "--resources" not in command.replace(
        "--resources GPU=1", ""
    )


def test_the_job_script_is_the_one_a_slurm_cluster_submits() -> None:
    from dask_jobqueue import SLURMCluster

    spec = slurm_spec(queue="gpu", gpus=1, walltime="02:00:00")
    scheduler_options = {"dashboard_address": "127.0.0.1:0", "host": "127.0.0.1"}
    with SLURMCluster(**slurm_job_kwargs(spec), scheduler_options=scheduler_options) as cluster:
        submitted = cluster.job_script().replace(cluster.scheduler_address, "SCHEDULER")
    preview = slurm_job_script(spec).replace("tcp://<scheduler-address>:8786", "SCHEDULER")
    assert preview == submitted


def test_a_job_script_needs_a_slurm_spec() -> None:
    with pytest.raises(ValueError, match="kind 'slurm'"):
        slurm_job_script(ClusterSpec())


def test_slurm_without_dask_jobqueue_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "dask_jobqueue", None)  # import now fails
    with pytest.raises(BackendMissingError, match=r"rcm\[hpc\]"):
        slurm_job_script(slurm_spec())


FAKE_SBATCH = """#!/usr/bin/env bash
# Stands in for sbatch: copies the script (the caller deletes it) and runs it here.
here="$(dirname "$0")"
cp "$1" "$here/job-$$.sh"
setsid bash "$here/job-$$.sh" > "$here/job-$$.log" 2>&1 < /dev/null &
echo "Submitted batch job $!"
"""
FAKE_SCANCEL = """#!/usr/bin/env bash
kill -TERM -- "-$1" 2>/dev/null || true
"""


@pytest.mark.skipif(shutil.which("setsid") is None, reason="needs setsid")
def test_slurm_jobs_start_workers_that_own_their_gpus(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # sbatch runs the generated script on this machine: the script is real, SLURM is not.
    for name, text in (("sbatch", FAKE_SBATCH), ("scancel", FAKE_SCANCEL)):
        (tmp_path / name).write_text(text)
        (tmp_path / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    spec = ClusterSpec.from_mapping(
        {"kind": "slurm", "slurm": {"cores": 4, "memory": "2GB", "gpus": 2, "processes": 2}}
    )
    with open_client(spec) as client:
        client.wait_for_workers(2, timeout=30)
        workers = client.scheduler_info()["workers"].values()
        assert [w["resources"] for w in workers] == [{"GPU": 1}, {"GPU": 1}]
        futures = [client.submit(probe, pure=False, resources={"GPU": 1}) for _ in range(4)]
        seen = client.gather(futures)
    pinned = {(str(result["name"])[-2:], result["cuda"]) for result in seen}
    assert pinned <= {("-0", "0"), ("-1", "1")}
    assert {result["threads"] for result in seen} == {2}  # 4 cores / 2 workers


# --- an existing scheduler ----------------------------------------------------------


def test_a_client_reaches_an_existing_scheduler_and_checks_its_gpus() -> None:
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=1, threads_per_worker=1, host="127.0.0.1", dashboard_address=None
    ) as cluster:
        spec = ClusterSpec(kind="address", address=cluster.scheduler_address)
        with open_client(spec) as client:
            assert client.submit(sum, [1, 2]).result() == 3
        gpu_spec = ClusterSpec(kind="address", address=cluster.scheduler_address, gpus_per_worker=1)
        with pytest.raises(InputError, match=r"no worker .* offers a GPU"), open_client(gpu_spec):
            pass
        assert cluster.status.name == "running"  # somebody else's cluster is left running


def test_an_unreachable_scheduler_is_an_input_error() -> None:
    import dask

    spec = ClusterSpec(kind="address", address="tcp://127.0.0.1:9")
    with (
        dask.config.set({"distributed.comm.timeouts.connect": "1s"}),
        pytest.raises(InputError, match=r"cannot reach the scheduler at tcp://127\.0\.0\.1:9"),
        open_client(spec),
    ):
        pass


def test_a_tls_scheduler_is_reached_with_the_files_of_the_spec(tmp_path: Path) -> None:
    pytest.importorskip("cryptography")
    from distributed import LocalCluster
    from distributed.security import Security

    temporary = Security.temporary()  # one self-signed certificate for every role
    (tmp_path / "cert.pem").write_text(temporary.tls_ca_file)
    (tmp_path / "key.pem").write_text(temporary.tls_client_key)
    with LocalCluster(
        n_workers=1,
        threads_per_worker=1,
        processes=False,
        host="127.0.0.1",
        dashboard_address=None,
        security=temporary,
    ) as cluster:
        assert cluster.scheduler_address.startswith("tls://")
        spec = ClusterSpec.from_mapping(
            {
                "kind": "address",
                "address": cluster.scheduler_address,
                "tls": {"ca_file": "cert.pem", "cert": "cert.pem", "key": "key.pem"},
            },
            base=tmp_path,
        )
        with open_client(spec) as client:
            assert client.submit(sum, [2, 3]).result() == 5


def _worker_environ() -> tuple[str | None, int]:
    import torch

    return os.environ.get("MALLOC_TRIM_THRESHOLD_"), torch.get_num_threads()


def test_workers_run_without_the_malloc_trim_threshold() -> None:
    """distributed's MALLOC_TRIM_THRESHOLD_ made CPU inference 1.4x slower in workers."""
    spec = ClusterSpec(workers=1, threads=2, dashboard=False)
    with open_client(spec) as client:
        assert client.submit(_worker_environ, pure=False).result() == (None, 2)
    script = slurm_job_script(
        ClusterSpec.from_mapping({"kind": "slurm", "slurm": {"cores": 8, "memory": "16GB"}})
    )
    assert "DASK_DISTRIBUTED__NANNY__PRE_SPAWN_ENVIRON" in script
    assert "MALLOC_TRIM" not in script
