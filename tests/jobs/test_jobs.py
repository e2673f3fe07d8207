"""Batch jobs on a local Dask cluster: same outputs as rcm infer, resume, quarantine, chaos."""

from __future__ import annotations

import json
import os
import shutil
import signal
import threading
import time
from pathlib import Path

import pytest
import torch
import yaml

from rcm.cli.main import main
from rcm.jobs import load_job
from rcm.jobs._run import plan_job, run_job, status
from rcm.models import ModelMeta, build_network, save_model

MOSAICS = 12


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A dozen small synthetic mosaics, a manifest and a tiny classifier."""
    from rcm.data import make_spec, write_synthetic

    folder = tmp_path_factory.mktemp("cohort")
    rows = ["mosaic_id,path"]
    for index in range(MOSAICS):
        name = f"m{index:02d}"
        write_synthetic(make_spec(320, 300, seed=index, lesions=index % 2), folder / f"{name}.tif")
        rows.append(f"{name},{name}.tif")
    (folder / "mosaics.csv").write_text("\n".join(rows) + "\n")
    meta = ModelMeta(
        architecture="test_efficientnet",
        classes=("benign", "suspicious"),
        positive=("suspicious",),
        tile_px=64,
    )
    torch.manual_seed(0)
    save_model(folder / "model.safetensors", build_network(meta), meta)
    return folder


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
    found = status(job.output)
    assert found["states"]["failed"] == ["bad"] and len(found["states"]["done"]) == MOSAICS
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
    from rcm.jobs._cluster import slurm_job_script

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
