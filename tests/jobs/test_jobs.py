"""Batch jobs on a local Dask cluster: same outputs as rcm infer, resume, quarantine, chaos."""

from __future__ import annotations

import json
import os
import shutil
import signal
import threading
import time
from pathlib import Path

import torch
import yaml

from rcm.cli.main import main
from rcm.jobs import job_status, load_job, plan_job, run_job, run_mosaic
from tests.jobs.conftest import MOSAICS


def write_job(folder: Path, cohort: Path, **changes: object) -> Path:
    job = {
        "name": "cohort-test",
        "mosaics": {"manifest": str(cohort / "mosaics.csv")},
        "output": str(folder / "results"),
        "stages": {"infer": {"model": str(cohort / "model.safetensors"), "options": {}}},
        # As many torch threads as `rcm infer` in this process uses: a float sum over
        # another thread count may differ in the last bit.
        "cluster": {"workers": 2, "threads": torch.get_num_threads(), "dashboard": False},
        "retries": 1,
    }
    job.update(changes)
    path = folder / "job.yaml"
    path.write_text(yaml.safe_dump(job))
    return path


def tree_bytes(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def test_a_job_equals_rcm_infer_per_mosaic_and_resumes(cohort: Path, tmp_path: Path) -> None:
    job = load_job(write_job(tmp_path, cohort))
    report = run_job(job, progress=False)
    assert sorted(report.done) == [f"m{i:02d}" for i in range(MOSAICS)] and not report.failed
    for name in ("m00", "m05", "m11"):
        alone = tmp_path / "alone" / f"{name}.rcm"
        code = main(
            [
                *("infer", str(cohort / f"{name}.tif"), "--weights"),
                *(str(cohort / "model.safetensors"), "--out", str(alone), "--no-progress"),
            ]
        )
        assert code == 0
        assert tree_bytes(alone) == tree_bytes(job.output / f"{name}.rcm"), name

    # Run again: nothing is recomputed.
    again = run_job(job, progress=False)
    assert again.done == [] and again.count("done") == MOSAICS
    # A run that died between the outputs and the manifest: that mosaic is redone.
    (job.output / "_job" / "manifests" / "m03.json").unlink()
    assert {p.entry.mosaic_id: p.state for p in plan_job(job)}["m03"] == "partial"
    assert run_job(job, progress=False).done == ["m03"]
    # Changed options invalidate every mosaic.
    changed = load_job(
        write_job(
            tmp_path,
            cohort,
            stages={
                "infer": {
                    "model": str(cohort / "model.safetensors"),
                    "options": {"threshold": 0.6},
                }
            },
        )
    )
    assert {p.state for p in plan_job(changed)} == {"changed"}
    log = (job.output / "_job" / "run.log").read_text()
    assert log.count("done m05 ") == 1


def test_half_done_job_resumes_and_a_corrupt_mosaic_is_quarantined(
    cohort: Path, tmp_path: Path
) -> None:
    half = tmp_path / "half.csv"
    lines = ["mosaic_id,path"] + [f"m{i:02d},{cohort / f'm{i:02d}.tif'}" for i in range(MOSAICS)]
    half.write_text("\n".join(lines[: 1 + MOSAICS // 2]) + "\n")
    job_path = write_job(tmp_path, cohort, mosaics={"manifest": str(half)})
    assert len(run_job(load_job(job_path), progress=False).done) == MOSAICS // 2

    corrupt = tmp_path / "corrupt.tif"
    corrupt.write_bytes((cohort / "m00.tif").read_bytes()[:5000])
    full = tmp_path / "full.csv"
    full.write_text("\n".join([*lines, f"bad,{corrupt}"]) + "\n")
    job = load_job(write_job(tmp_path, cohort, mosaics={"manifest": str(full)}))
    report = run_job(job, progress=False)
    assert report.count("done") == MOSAICS // 2  # the first half was not recomputed
    assert len(report.done) == MOSAICS - MOSAICS // 2
    assert list(report.failed) == ["bad"] and "truncated" in report.failed["bad"]
    failures = (job.output / "_job" / "failures.csv").read_text()
    assert "bad" in failures and "truncated" in failures
    assert not (job.output / "bad.rcm").exists()
    # Unchanged, it stays quarantined; --retry-failed runs it again (and it fails again).
    assert {p.entry.mosaic_id: p.state for p in plan_job(job)}["bad"] == "quarantined"
    assert list(run_job(job, progress=False, retry_failed=True).failed) == ["bad"]
    found = job_status(job.output)
    assert found.failed == ("bad",) and len(found.done) == MOSAICS
    assert main(["status", str(job.output)]) == 0


def test_a_killed_worker_does_not_lose_or_duplicate_work(cohort: Path, tmp_path: Path) -> None:
    import dask
    from distributed import Client, LocalCluster

    job = load_job(write_job(tmp_path, cohort, retries=3))
    manifests = job.output / "_job" / "manifests"
    killed: list[int] = []

    def kill_one_worker(client: Client) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (manifests.exists() and any(manifests.iterdir())):
            time.sleep(0.05)
        pids = client.run(os.getpid)
        victim = sorted(pids.values())[0]
        os.kill(victim, signal.SIGKILL)
        killed.append(victim)

    with (
        dask.config.set({"distributed.scheduler.allowed-failures": 3}),
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        Client(cluster) as client,
    ):
        chaos = threading.Thread(target=kill_one_worker, args=(client,))
        chaos.start()
        report = run_job(job, progress=False, client=client)
        chaos.join()
    assert killed, "no worker was killed"
    assert sorted(report.done) == [f"m{i:02d}" for i in range(MOSAICS)] and not report.failed
    log = (job.output / "_job" / "run.log").read_text()
    for index in range(MOSAICS):
        assert log.count(f"done m{index:02d} ") == 1
    outputs = sorted(p.name for p in job.output.iterdir())
    assert outputs == ["_job", *[f"m{i:02d}.rcm" for i in range(MOSAICS)]]  # no partials left
    for index in range(MOSAICS):
        summary = json.loads((job.output / f"m{index:02d}.rcm" / "summary.json").read_text())
        assert summary["status"] in ("ok", "no_tissue")


def test_dry_run_and_bad_job_files(cohort: Path, tmp_path: Path) -> None:
    job_path = write_job(tmp_path, cohort)
    assert main(["run", str(job_path), "--dry-run"]) == 0
    assert not (tmp_path / "results").exists()
    bad = write_job(
        tmp_path,
        cohort,
        stages={"infer": {"model": str(cohort / "model.safetensors"), "options": {"tresh": 1}}},
    )
    assert main(["run", str(bad), "--dry-run"]) == 2
    (tmp_path / "typo.yaml").write_text(yaml.safe_dump({"mosaic": {}, "output": "x", "stages": {}}))
    assert main(["run", str(tmp_path / "typo.yaml")]) == 2
    shutil.rmtree(tmp_path / "results", ignore_errors=True)


def test_the_shipped_example_jobs_validate(tmp_path: Path) -> None:
    """pipelines/*.yaml load against a cohort laid out as their comments say."""
    from rcm.jobs.cluster import slurm_job_script

    root = Path(__file__).resolve().parents[2]
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "cohort" / "mosaics").mkdir(parents=True)
    (tmp_path / "cohort" / "mosaics" / "a.tif").write_bytes(b"")
    (tmp_path / "cohort" / "mosaics.csv").write_text("mosaic_id,path\na,mosaics/a.tif\n")
    jobs = {}
    for example in sorted((root / "pipelines").glob("*.yaml")):
        copy = tmp_path / "pipelines" / example.name
        shutil.copy(example, copy)
        jobs[example.stem] = load_job(copy)
    assert set(jobs) == {"classify-and-evaluate", "segment-and-evaluate"}
    assert (
        jobs["classify-and-evaluate"].mosaics[0].path == tmp_path / "cohort" / "mosaics" / "a.tif"
    )
    script = slurm_job_script(jobs["segment-and-evaluate"].cluster)
    assert "#SBATCH -p gpu" in script and "--gres=gpu:1" in script


def test_a_store_missing_chunks_fails_unless_the_job_accepts_fill_values(
    cohort: Path, tmp_path: Path
) -> None:
    """zarr reads an absent chunk as its fill value: a job refuses that unless told to accept it."""
    import zarr

    store = tmp_path / "sparse.zarr"
    group = zarr.open_group(str(store), mode="w", zarr_format=3)
    array = group.create_array("0", shape=(320, 300), chunks=(64, 64), dtype="uint8", fill_value=0)
    array[:128, :] = 90  # the lower rows' chunks are never written
    axes = [{"name": "y", "type": "space"}, {"name": "x", "type": "space"}]
    group.attrs["ome"] = {
        "version": "0.5",
        "multiscales": [{"axes": axes, "datasets": [{"path": "0"}]}],
    }
    manifest = tmp_path / "sparse.csv"
    manifest.write_text(f"mosaic_id,path\nsparse,{store}\n")

    refused = load_job(write_job(tmp_path, cohort, mosaics={"manifest": str(manifest)}))
    [planned] = plan_job(refused)
    outcome = run_mosaic(planned.task)
    assert outcome.status == "failed" and "chunk files of array 0 are missing" in outcome.error
    assert "allow_missing_chunks" in outcome.error

    accepted = load_job(
        write_job(tmp_path, cohort, mosaics={"manifest": str(manifest)}, allow_missing_chunks=True)
    )
    [planned] = plan_job(accepted)
    assert run_mosaic(planned.task).status == "done"
    summary = json.loads((accepted.output / "sparse.rcm" / "summary.json").read_text())
    assert any("fill value" in note for note in summary["notes"]), summary["notes"]
