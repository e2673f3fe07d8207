"""Job files: the typed sections, the rules of rcm.config, the convert and evaluate options."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from rcm.errors import InputError
from rcm.io import ZarrWriteOptions
from rcm.jobs import ConvertStage, EvaluateStage, load_job


def write_job(folder: Path, **changes: Any) -> Path:
    (folder / "a.tif").write_bytes(b"")
    (folder / "mosaics.csv").write_text("mosaic_id,path\na,a.tif\n")
    job: dict[str, Any] = {
        "mosaics": {"manifest": "mosaics.csv"},
        "output": "results",
        "stages": {"infer": {"model": "effnet"}},
    }
    job.update(changes)
    path = folder / "job.yaml"
    path.write_text(yaml.safe_dump(job))
    return path


def refused(path: Path) -> str:
    with pytest.raises(InputError) as caught:
        load_job(path)
    assert caught.value.path == str(path)
    return caught.value.reason


def test_a_minimal_job_file_reads_with_the_defaults(tmp_path: Path) -> None:
    job = load_job(write_job(tmp_path))
    assert job.name == "job" and job.retries == 2 and job.um_per_px is None
    assert job.output == tmp_path / "results"
    assert [(m.mosaic_id, m.path) for m in job.mosaics] == [("a", tmp_path / "a.tif")]
    assert job.infer is not None and job.infer.model == "effnet" and job.infer.options == {}
    assert job.convert is None and job.evaluate is None


def test_retries_must_be_a_whole_number_not_a_boolean(tmp_path: Path) -> None:
    assert refused(write_job(tmp_path, retries=True)) == "retries: must be a whole number, got True"
    assert "retries must be a whole number >= 0" in refused(write_job(tmp_path, retries=-1))


def test_a_typo_in_stages_convert_is_named_with_the_closest_key(tmp_path: Path) -> None:
    stages = {"infer": {"model": "effnet"}, "convert": {"chunks": 512}}
    reason = refused(write_job(tmp_path, stages=stages))
    assert reason.startswith("stages.convert: unknown key(s) chunks (did you mean chunk?)")
    assert "allowed keys: chunk, shard, compressor, compression_level" in reason


def test_convert_takes_the_options_and_defaults_of_rcm_convert(tmp_path: Path) -> None:
    assert ConvertStage().write_options() == ZarrWriteOptions()
    stages = {
        "infer": {"model": "effnet"},
        "convert": {"chunk": 256, "shard": 0, "compressor": "zstd", "compression_level": 9},
    }
    job = load_job(write_job(tmp_path, stages=stages))
    assert job.convert is not None
    assert job.convert.write_options() == ZarrWriteOptions(
        chunk=256, shard=0, compressor="zstd", compression_level=9
    )


@pytest.mark.parametrize(
    ("convert", "message"),
    [
        ({"chunk": 100}, "stages.convert: chunk must be a power of two"),
        ({"chunk": 1024, "shard": 512}, "stages.convert: shard must be 0 or a power of two"),
        ({"compressor": "gzip"}, "stages.convert.compressor: must be one of zstd"),
        ({"compression_level": 0}, "stages.convert: compression_level must be at least 1"),
        ({"chunk": "1024"}, "stages.convert.chunk: must be a whole number, got '1024'"),
    ],
)
def test_bad_convert_options_are_named(
    tmp_path: Path, convert: dict[str, Any], message: str
) -> None:
    stages = {"infer": {"model": "effnet"}, "convert": convert}
    assert refused(write_job(tmp_path, stages=stages)).startswith(message)


def test_evaluate_takes_the_options_of_rcm_evaluate(tmp_path: Path) -> None:
    assert EvaluateStage(truth=Path("t.csv")) == EvaluateStage(
        Path("t.csv"), 2000, None, 0, 0.5, 0.8, 0.8
    )
    evaluate = {"truth": "../t.csv", "readers": "r.csv", "seed": 3, "target_sensitivity": 0.9}
    stages = {"infer": {"model": "effnet"}, "evaluate": evaluate}
    job = load_job(write_job(tmp_path, stages=stages))
    assert job.evaluate == EvaluateStage(
        truth=tmp_path.parent / "t.csv",
        readers=tmp_path / "r.csv",
        seed=3,
        target_sensitivity=0.9,
    )
    stages["evaluate"] = {"truth": "t.csv", "bootstrap": "2000"}
    assert refused(write_job(tmp_path, stages=stages)).startswith(
        "stages.evaluate.bootstrap: must be a whole number"
    )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"mosaic": {}}, "unknown key(s) mosaic (did you mean mosaics?)"),
        ({"stages": {"convert": {}}}, "stages: missing infer"),
        ({"stages": {"infer": {"model": "m", "explain": "yes"}}}, "stages.infer.explain"),
        ({"stages": {"infer": {"model": "m", "options": [1]}}}, "stages.infer.options"),
        ({"mosaics": {"manifest": "m.csv", "glob": "*"}}, "mosaics: needs exactly one"),
        ({"um_per_px": "0.5"}, "um_per_px: must be a number"),
        ({"cluster": {"workers": True}}, "cluster.workers: must be a whole number"),
        ({"cluster": {"kind": "slurm", "slurm": {"cores": 8}}}, "cluster.slurm: missing memory"),
    ],
)
def test_bad_job_files_name_the_key(tmp_path: Path, changes: dict[str, Any], message: str) -> None:
    assert message in refused(write_job(tmp_path, **changes))


def test_an_unreadable_job_file_is_an_input_error(tmp_path: Path) -> None:
    (tmp_path / "job.yaml").write_text("stages: [")
    assert "not valid YAML" in refused(tmp_path / "job.yaml")


@pytest.mark.parametrize(
    ("evaluate", "message"),
    [
        ({"target_sensitivity": 2.0}, "target_sensitivity"),
        ({"reader_threshold": -1}, "reader_threshold"),
        ({"bootstrap": 0}, "bootstrap"),
    ],
)
def test_bad_evaluate_options_are_refused_when_the_job_file_is_read(
    tmp_path: Path, evaluate: dict[str, Any], message: str
) -> None:
    stages = {"infer": {"model": "m.safetensors"}, "evaluate": {"truth": "t.csv", **evaluate}}
    text = refused(write_job(tmp_path, stages=stages))
    assert "stages.evaluate" in text and message in text


def test_a_mosaic_id_with_a_newline_never_names_a_folder(tmp_path: Path) -> None:
    path = write_job(tmp_path)
    (tmp_path / "mosaics.csv").write_text('mosaic_id,path\n"m1\n",a.tif\n')
    assert [m.mosaic_id for m in load_job(path).mosaics] == ["m1"]  # cells are stripped
    (tmp_path / "m2\n.tif").write_bytes(b"")
    globbed = write_job(tmp_path, mosaics={"glob": "m2*.tif"})
    assert "mosaic id 'm2\\n' is not usable as a folder name" in refused(globbed)


def test_a_manifest_saved_with_a_byte_order_mark_reads(tmp_path: Path) -> None:
    path = write_job(tmp_path)
    (tmp_path / "mosaics.csv").write_bytes(b"\xef\xbb\xbfmosaic_id,path\r\na,a.tif\r\n")
    assert [m.mosaic_id for m in load_job(path).mosaics] == ["a"]


def test_an_output_that_is_an_existing_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "results").write_text("not a folder")
    reason = refused(write_job(tmp_path))
    assert reason == f"output: {tmp_path / 'results'} is an existing file, not a folder"


def test_an_option_of_the_wrong_type_names_its_key_and_type() -> None:
    from rcm.models import Task
    from rcm.pipeline.infer import options_for

    with pytest.raises(InputError) as caught:
        options_for(Task.CLASSIFIER, {"threshold": "high"}, where="stages.infer.options")
    assert "stages.infer.options.threshold: must be a number, got 'high'" in str(caught.value)
