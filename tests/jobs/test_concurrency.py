"""Jobs against each other and against the disk: one run per output root, no lost work."""

from __future__ import annotations

import errno
import subprocess
import sys
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import yaml

import rcm.jobs
from rcm.cli.main import main
from rcm.errors import OutputError
from rcm.jobs import load_job, run_job
from tests.io.test_atomic import HOLD


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    """An in-process Dask cluster: cheap to start, and patches reach its workers."""
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        Client(cluster) as opened,
    ):
        yield opened


def write_job(folder: Path, cohort: Path, mosaics: list[tuple[str, Path]]) -> Path:
    manifest = folder / "mosaics.csv"
    manifest.write_text("mosaic_id,path\n" + "".join(f"{i},{p}\n" for i, p in mosaics))
    job = {
        "mosaics": {"manifest": str(manifest)},
        "output": str(folder / "results"),
        "stages": {"infer": {"model": str(cohort / "model.safetensors")}},
        "retries": 0,
    }
    path = folder / "job.yaml"
    path.write_text(yaml.safe_dump(job))
    return path


def cohort_job(folder: Path, cohort: Path, count: int = 3) -> Path:
    return write_job(
        folder, cohort, [(f"m{i:02d}", cohort / f"m{i:02d}.tif") for i in range(count)]
    )


def hold(lock: Path) -> subprocess.Popen[str]:
    """Another process holding the lock file `lock` until its stdin closes."""
    lock.parent.mkdir(parents=True, exist_ok=True)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(lock)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    return holder


def test_a_second_run_of_a_job_is_refused_while_the_first_holds_its_lock(
    cohort: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = cohort_job(tmp_path, cohort)
    root = tmp_path / "results"
    holder = hold(root / "_job" / "lock")
    try:
        (root / "_job" / "lock").write_text("pid 123 on node7, since 2026-01-01T00:00:00+00:00")
        assert main(["run", str(path), "--no-progress"]) == 2
        message = capsys.readouterr().err
        assert f"rcm: error: {root}: another rcm run is working on this job" in message
        assert "pid 123 on node7" in message
        assert sorted(p.name for p in root.iterdir()) == ["_job"]  # nothing planned or written
        assert main(["run", str(path), "--dry-run"]) == 0  # planning only reads
    finally:
        holder.communicate("")


def test_a_job_lock_that_cannot_be_opened_or_is_held_here_is_a_clear_refusal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another user's lock file is an OutputError (exit 2), as is a second run in this process."""
    import os

    from rcm.jobs._run import job_lock

    root = tmp_path / "results"
    # On NFS a second flock in this process would be granted: one POSIX lock per process.
    with job_lock(root), pytest.raises(OutputError, match="another rcm run"), job_lock(root):
        pass
    lock, real_open = root / "_job" / "lock", os.open

    def denied(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if str(path) == str(lock):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", denied)
    refused = pytest.raises(OutputError, match="cannot be locked: Permission denied")
    with refused as caught, job_lock(root):
        pass
    assert caught.value.path == str(lock)


def test_a_killed_runs_partial_is_swept_and_a_live_writers_kept(
    cohort: Path, tmp_path: Path, client: Any
) -> None:
    job = load_job(cohort_job(tmp_path, cohort, count=2))
    root = job.output
    root.mkdir()
    dead = root / ".m00.rcm.partial-0123456789ab"  # left by a run killed with -9
    dead.mkdir()
    live = root / ".m01.rcm.partial-0123456789ab"  # being written by a live process
    live.mkdir()
    holder = hold(root / f"{live.name}.lock")
    try:
        report = run_job(job, progress=False, client=client)
        assert sorted(report.done) == ["m00", "m01"]
        assert not dead.exists() and live.exists()
    finally:
        holder.communicate("")
    assert (root / "m01.rcm" / "tiles.csv").exists()


def test_a_full_disk_stops_the_job_and_quarantines_nothing(
    cohort: Path, tmp_path: Path, client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import zarr.storage._local as local

    job = load_job(cohort_job(tmp_path, cohort))
    real = local._put

    def full(path: Path, *args: Any, **kwargs: Any) -> int:
        if "m01.rcm" in str(path):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(path, *args, **kwargs)

    monkeypatch.setattr(local, "_put", full)
    with pytest.raises(OutputError, match="No space left on device") as caught:
        run_job(job, progress=False, client=client)
    assert "m01.rcm" in str(caught.value) and "nothing was quarantined" in str(caught.value)
    root = job.output
    assert "m01" not in (root / "_job" / "failures.csv").read_text()
    assert [p.name for p in root.iterdir() if p.name.startswith(".")] == []  # no partial left
    assert "stopped: " in (root / "_job" / "run.log").read_text()
    monkeypatch.setattr(local, "_put", real)  # room again: the run goes on
    again = run_job(job, progress=False, client=client)
    assert "m01" in again.done and not again.failed


def test_rcm_run_exits_3_while_a_mosaic_is_quarantined(
    cohort: Path, tmp_path: Path, client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rcm.jobs, "run_job", partial(run_job, client=client))
    corrupt = tmp_path / "corrupt.tif"
    corrupt.write_bytes((cohort / "m00.tif").read_bytes()[:5000])
    good = write_job(tmp_path, cohort, [("m00", cohort / "m00.tif")])
    assert main(["run", str(good), "--no-progress"]) == 0
    bad = write_job(tmp_path, cohort, [("m00", cohort / "m00.tif"), ("bad", corrupt)])
    assert main(["run", str(bad), "--no-progress"]) == 3  # quarantined now
    assert main(["run", str(bad), "--no-progress"]) == 3  # still quarantined
    assert main(["run", str(bad), "--dry-run"]) == 0
