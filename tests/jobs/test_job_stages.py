"""The convert and evaluate stages of a job, on an in-process cluster (fast)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from rcm.errors import InputError
from rcm.io import open_mosaic
from rcm.jobs import load_job, run_job
from rcm.outputs import read_document

FEW = ("m00", "m01", "m02", "m03")


@pytest.fixture(scope="module")
def client() -> Iterator[object]:
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
        ) as cluster,
        Client(cluster) as connected,
    ):
        yield connected


def _job(tmp_path: Path, cohort: Path, stages: dict, labels: dict[str, str] | None = None) -> Path:
    rows = ["mosaic_id,path"] + [f"{name},{cohort / name}.tif" for name in FEW]
    (tmp_path / "mosaics.csv").write_text("\n".join(rows) + "\n")
    labels = labels or {name: "suspicious" if int(name[1:]) % 2 else "benign" for name in FEW}
    truth = ["mosaic_id,patient_id,label"] + [f"{n},p{n},{labels[n]}" for n in FEW]
    (tmp_path / "truth.csv").write_text("\n".join(truth) + "\n")
    model = str(cohort / "model.safetensors")
    job = {
        "name": "stages",
        "mosaics": {"manifest": "mosaics.csv"},
        "output": "results",
        "stages": {"infer": {"model": model}, **stages},
    }
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(job))
    return path


def test_the_convert_stage_writes_stores_with_the_job_files_options(
    cohort: Path,
    tmp_path: Path,
    client: object,
) -> None:
    convert = {"chunk": 128, "shard": 0, "compressor": "zstd", "compression_level": 3}
    job = load_job(_job(tmp_path, cohort, {"convert": convert}))
    report = run_job(job, progress=False, client=client)
    assert sorted(report.done) == list(FEW) and not report.failed
    store = job.output / "m01.zarr"
    level = json.loads((store / "0" / "zarr.json").read_text())
    assert level["chunk_grid"]["configuration"]["chunk_shape"] == [128, 128]  # no shards
    assert "zstd" in str(level["codecs"])
    converted, original = open_mosaic(store), open_mosaic(cohort / "m01.tif")
    assert (converted.data.compute() == original.data.compute()).all()
    # The options are part of the fingerprint: another chunk redoes every mosaic.
    convert["chunk"] = 64
    again = load_job(_job(tmp_path, cohort, {"convert": convert}))
    assert {p.state for p in run_job(again, dry_run=True).planned} == {"changed"}


def test_the_evaluate_stage_reports_and_bad_truth_raises(
    cohort: Path,
    tmp_path: Path,
    client: object,
) -> None:
    job = load_job(_job(tmp_path, cohort, {"evaluate": {"truth": "truth.csv", "bootstrap": 50}}))
    report = run_job(job, progress=False, client=client)
    assert report.evaluation == job.output / "evaluation"
    metrics, version = read_document(report.evaluation / "metrics.json", "metrics.json", 1)
    assert version == 1 and metrics["counts"]["mosaics"] == len(FEW)
    assert (report.evaluation / "report.html").exists()
    # A truth file with an unknown label: the stage raises like any other bad input, after
    # the mosaics' results are recorded, and the log does not claim the job finished.
    shutil.rmtree(job.output)
    labels = {name: "benign" for name in FEW} | {"m02": "maybe"}
    bad = load_job(_job(tmp_path, cohort, {"evaluate": {"truth": "truth.csv"}}, labels))
    with pytest.raises(InputError, match="problem"):
        run_job(bad, progress=False, client=client)
    assert len(list((bad.output / "_job" / "manifests").iterdir())) == len(FEW)
    log = (bad.output / "_job" / "run.log").read_text()
    assert "evaluate failed" in log and "finished" not in log
