"""Batch jobs over photo sets: one task per set, outputs as rcm infer's, finished sets skipped."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
import yaml

from rcm.errors import InputError
from rcm.infer import PhotoOptions
from rcm.jobs import load_job, plan_job, run_job
from rcm.outputs import PhotoPredictions
from rcm.pipeline.infer import infer_photo_set, load_for_run
from tests.infer.photo_models import classifier_meta, save_tiny, write_coco_set, write_photos


@pytest.fixture(scope="module")
def photo_sets(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("photo-sets")
    save_tiny(root / "photo.safetensors", classifier_meta())
    write_photos(root / "clinic-a", 3)
    write_coco_set(root / "clinic-b", 2)
    return root


def write_photo_job(folder: Path, root: Path, **changes: object) -> Path:
    job = {
        "photos": {
            "sets": [
                {"id": "a", "path": str(root / "clinic-a")},
                {"id": "b", "path": str(root / "clinic-b" / "annotations.coco.json")},
            ]
        },
        "output": str(folder / "results"),
        "stages": {
            "infer": {"model": str(root / "photo.safetensors"), "options": {"batch_size": 2}}
        },
        "cluster": {"workers": 1, "threads": torch.get_num_threads(), "dashboard": False},
        "retries": 0,
    }
    job.update(changes)
    path = folder / "job.yaml"
    path.write_text(yaml.safe_dump(job))
    return path


@pytest.mark.slow  # a local Dask cluster, started twice
def test_a_photo_job_runs_each_set_once_as_rcm_infer_does(photo_sets: Path, tmp_path: Path) -> None:
    job = load_job(write_photo_job(tmp_path, photo_sets))
    assert job.photos and [entry.mosaic_id for entry in job.mosaics] == ["a", "b"]
    report = run_job(job, progress=False)
    assert sorted(report.done) == ["a", "b"] and not report.failed
    model = load_for_run(photo_sets / "photo.safetensors", "auto")
    options = PhotoOptions(batch_size=2)
    alone = infer_photo_set(photo_sets / "clinic-a", model, tmp_path / "alone", options=options)
    assert alone.images == 3
    ran = job.output / "a.rcm" / "predictions.csv"
    assert ran.read_bytes() == (tmp_path / "alone" / "predictions.csv").read_bytes()
    assert len(PhotoPredictions.read(ran)) == 3
    summary = json.loads((job.output / "a.rcm" / "summary.json").read_text())
    assert summary["options"]["batch_size"] == 2 and summary["source"]["kind"] == "folder"
    assert run_job(job, progress=False).done == []  # finished sets are skipped
    photo = photo_sets / "clinic-a" / "photo00.jpg"
    os.utime(photo, ns=(photo.stat().st_atime_ns, photo.stat().st_mtime_ns + 10**9))
    assert {p.entry.mosaic_id: p.state for p in plan_job(job)} == {"a": "changed", "b": "done"}


def test_photo_jobs_refuse_mosaic_stages_and_the_wrong_kind_of_model(
    photo_sets: Path, tmp_path: Path
) -> None:
    evaluate = {"truth": str(tmp_path / "truth.csv")}
    stages = {"infer": {"model": str(photo_sets / "photo.safetensors")}, "evaluate": evaluate}
    with pytest.raises(InputError, match="infer stage only"):
        load_job(write_photo_job(tmp_path, photo_sets, stages=stages))
    both = {"glob": str(tmp_path / "*.tif")}
    with pytest.raises(InputError, match="exactly one of 'mosaics' or 'photos'"):
        load_job(write_photo_job(tmp_path, photo_sets, mosaics=both))
    mosaic_job = write_photo_job(tmp_path, photo_sets, mosaics=both)
    data = yaml.safe_load(mosaic_job.read_text())
    del data["photos"]
    (tmp_path / "m.tif").write_bytes(b"")
    mosaic_job.write_text(yaml.safe_dump(data))
    with pytest.raises(InputError, match=r"list them under photos\.sets"):
        plan_job(load_job(mosaic_job))
    bad_option = {
        "infer": {"model": str(photo_sets / "photo.safetensors"), "options": {"overlap": 0.5}}
    }
    with pytest.raises(InputError, match="overlap"):
        plan_job(load_job(write_photo_job(tmp_path, photo_sets, stages=bad_option)))
