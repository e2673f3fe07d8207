"""``rcm infer`` with photo models, end to end: a folder, a COCO file, wrong inputs, bad photos."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rcm.cli.main import main
from rcm.models import ModelMeta, build_network, save_model
from rcm.outputs import PhotoPredictions, PhotoRunSummary
from tests.infer.photo_models import classifier_meta, save_tiny, write_coco_set, write_photos


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli")
    save_tiny(root / "photo.safetensors", classifier_meta())
    mosaic_meta = ModelMeta(
        architecture="test_efficientnet",
        classes=("benign", "suspicious"),
        positive=("suspicious",),
        tile_px=32,
    )
    save_model(root / "mosaic.safetensors", build_network(mosaic_meta), mosaic_meta)
    write_photos(root / "photos", 3)
    write_coco_set(root / "coco", 2)
    return root


def _errors(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


def test_a_folder_and_a_coco_file_run_end_to_end(
    inputs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    weights = ["--weights", str(inputs / "photo.safetensors"), "--no-progress", "--device", "cpu"]
    out = tmp_path / "folder.rcm"
    assert (
        main(["infer", str(inputs / "photos"), *weights, "--out", str(out), "--gallery", "2"]) == 0
    )
    assert "3 photos" in capsys.readouterr().out
    assert len(PhotoPredictions.read(out / "predictions.csv")) == 3
    summary = PhotoRunSummary.read(out / "summary.json")
    assert summary.options["gallery"] == 2 and summary.options["batch_size"] == 16
    coco = inputs / "coco" / "annotations.coco.json"
    assert (
        main(["infer", str(coco), *weights, "--out", str(tmp_path / "c"), "--batch-size", "1"]) == 0
    )
    assert PhotoRunSummary.read(tmp_path / "c" / "summary.json").source.kind == "coco"


@pytest.mark.parametrize(
    ("model", "source", "flags", "message"),
    [
        ("mosaic", "photos", [], "needs a photo model"),
        ("mosaic", "coco/annotations.coco.json", [], "needs a photo model"),
        ("photo", "store.zarr", [], "is a mosaic"),
        ("photo", "photos", ["--overlap", "0.2"], "--overlap does not apply to a photo-classifier"),
        ("photo", "photos", ["--min-score", "0.2"], "--min-score does not apply"),
        ("photo", "photos", ["--explain"], "--explain does not apply"),
        ("mosaic", "m.tif", ["--gallery", "3"], "explanation options need --explain"),
    ],
)
def test_inputs_and_options_of_the_other_kind_of_model_are_refused(
    inputs: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    model: str,
    source: str,
    flags: list[str],
    message: str,
) -> None:
    (inputs / "store.zarr").mkdir(exist_ok=True)
    (inputs / "store.zarr" / "zarr.json").write_text("{}")
    weights = str(inputs / f"{model}.safetensors")
    out = tmp_path / "out"
    code = main(["infer", str(inputs / source), "--weights", weights, "--out", str(out), *flags])
    assert code == 2 and message in _errors(capsys)
    assert not out.exists()


def test_a_bad_photo_exits_2_naming_it_and_writes_nothing(
    inputs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_photos(tmp_path / "set", 2)
    bad = tmp_path / "set" / "zz.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    out = tmp_path / "out"
    weights = ["--weights", str(inputs / "photo.safetensors"), "--no-progress"]
    assert main(["infer", str(tmp_path / "set"), *weights, "--out", str(out)]) == 2
    err = _errors(capsys)
    assert str(bad) in err and "not a readable image" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["set"]
    assert (
        main(["infer", str(tmp_path / "set"), *weights, "--out", str(out), "--skip-unreadable"])
        == 0
    )
    assert "1 unreadable skipped" in capsys.readouterr().out
    np.testing.assert_array_equal(PhotoPredictions.read(out / "predictions.csv").image_ids, [1, 2])
