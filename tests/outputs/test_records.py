"""Job records and detections: typed round trips, and the files of rcm 0.1.0 still read."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from rcm.outputs import (
    Failure,
    FileIdentity,
    JobPlan,
    Manifest,
    OutputFormatError,
    PlanEntry,
    read_failures,
    write_failures,
)

RELEASE = Path(__file__).resolve().parent.parent / "fixtures" / "release-0.1.0" / "job"


@pytest.fixture
def old_job(tmp_path: Path) -> Path:
    root = tmp_path / "results"
    shutil.copytree(RELEASE, root)
    return root


def test_records_of_rcm_0_1_0_read(old_job: Path) -> None:
    manifest = Manifest.read(old_job, "m00")
    assert manifest is not None and manifest.outputs == ("m00.rcm",)
    assert manifest.mosaic.size == 80970 and manifest.rcm == "0.1.0"
    plan = JobPlan.read(old_job)
    assert [entry.state for entry in plan.mosaics] == ["done", "done", "retry"]
    failures = read_failures(old_job)
    assert failures["bad"].attempts == 2 and failures["bad"].size == 5000
    assert "truncated" in failures["bad"].error


def test_records_round_trip(tmp_path: Path) -> None:
    manifest = Manifest(
        mosaic_id="a",
        fingerprint="sha256:1",
        mosaic_path="/x/a.tif",
        mosaic=FileIdentity(10, 20, "sha256:2"),
        model_checksum="sha256:3",
        outputs=("a.rcm", "a.zarr"),
        finished="2026-01-01T00:00:00+00:00",
    )
    manifest.write(tmp_path)
    assert Manifest.read(tmp_path, "a") == manifest
    assert json.loads(Manifest.path(tmp_path, "a").read_text())["schema_version"] == 1
    plan = JobPlan("job.yaml", "job", (PlanEntry("a", "/x/a.tif", "pending"),))
    plan.write(tmp_path)
    assert JobPlan.read(tmp_path) == plan
    failures = [Failure("b", "/x/b.tif", "bad", 1, None, None, "sha256:4")]
    write_failures(tmp_path, failures)
    assert list(read_failures(tmp_path).values()) == failures


def test_a_damaged_manifest_is_redone_but_a_newer_one_is_refused(old_job: Path) -> None:
    path = Manifest.path(old_job, "m00")
    path.write_text("{not json")
    assert Manifest.read(old_job, "m00") is None  # redone
    path.write_text(json.dumps({"schema_version": 99}))
    with pytest.raises(OutputFormatError, match="newer than this rcm"):
        Manifest.read(old_job, "m00")


def test_bad_plans_and_failure_tables_are_named(old_job: Path, tmp_path: Path) -> None:
    with pytest.raises(OutputFormatError, match="no job has run here"):
        JobPlan.read(tmp_path)
    JobPlan.path(old_job).write_text(json.dumps({"job": "j", "name": "n"}))
    with pytest.raises(OutputFormatError, match="lacks mosaics"):
        JobPlan.read(old_job)
    table = old_job / "_job" / "failures.csv"
    table.write_text(table.read_text().replace(",2,5000,", ",two,5000,"))
    with pytest.raises(OutputFormatError, match="line 2"):
        read_failures(old_job)


def test_detections_of_rcm_0_1_0_read_and_bad_entries_are_named(tmp_path: Path) -> None:
    from rcm.outputs import INSTANCES, DetectionResults

    window = RELEASE.parent / "window"
    results = DetectionResults.read(window / INSTANCES)
    summary = json.loads((window / "summary.json").read_text())
    assert len(results.items) == summary["instances"]["count"] > 0
    assert results.boxes.shape == (len(results.items), 4) and (results.scores <= 1).all()
    assert np.all(results.boxes[:, 2:] >= results.boxes[:, :2])
    results.write(tmp_path / INSTANCES)
    assert (tmp_path / INSTANCES).read_bytes() == (window / INSTANCES).read_bytes()
    (tmp_path / INSTANCES).write_text('[{"bbox": [1, 2, 3], "score": 0.5, "category_id": 1}]')
    with pytest.raises(OutputFormatError, match="detection 0: bbox"):
        DetectionResults.read(tmp_path / INSTANCES)
