"""``rcm demo photos``: the photo workflow end to end at a tiny size, and its bad inputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rcm.cli._targets import default_target
from rcm.cli.main import main
from rcm.models import ModelStore

TINY = ["--images", "48", "--epochs", "1", "--input-px", "32", "--no-progress"]


def test_the_photo_demo_runs_every_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RCM_HOME", str(tmp_path / "home"))
    out = tmp_path / "demo"
    assert main(["demo", "photos", "--out", str(out), *TINY]) == 0
    printed = capsys.readouterr().out
    commands = ("synth photos", "data photos", "data split", "train photo-classifier")
    for command in (*commands, "train detector"):
        assert f"$ rcm {command}" in printed
    assert "$ rcm infer" in printed and "--part test --readers" in printed
    results = json.loads((out / "demo.json").read_text())
    assert results["images"] == 48 and 0 < results["test_photos"] < 48
    classifier = results["models"]["classifier"]
    assert classifier["name"] == "rcm-demo-photo-classifier"
    assert classifier["validation_metric"] == "macro_auroc" and classifier["best_epoch"] == 1
    assert classifier["macro_auroc"] is None or 0 <= classifier["macro_auroc"] <= 1
    assert Path(classifier["report"]).is_file()
    detector = results["models"]["detector"]
    assert detector["validation_metric"] == "map" and detector["task"] == "photo-detector"
    assert detector["map50"] is None or 0 <= detector["map50"] <= 1
    assert set(results["timings"]) >= {"synthesise_s", "train_classifier_s", "total_s"}
    for path in ("coco/annotations.coco.json", "coco/split.csv", "coco/test.coco.json"):
        assert (out / path).is_file()
    assert (out / "evaluation" / "classifier" / "metrics.json").is_file()
    assert (out / "outputs" / "classifier" / "predictions.csv").is_file()
    stored = {entry.name for entry in ModelStore().entries()}
    assert {"rcm-demo-photo-classifier", "rcm-demo-photo-detector"} <= stored
    assert main(["demo", "photos", "--out", str(out), *TINY]) == 2  # never over a demo silently
    assert "--overwrite" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--images", "10"], "at least 40 photographs"),
        (["--seed", "-1"], "--seed must be >= 0"),
    ],
)
def test_bad_options_are_input_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str], message: str
) -> None:
    assert main(["demo", "photos", "--out", str(tmp_path / "d"), *flags]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "d").exists()


def test_an_existing_file_as_the_demo_folder_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    taken = tmp_path / "notes.txt"
    taken.write_text("mine")
    for target in (["photos"], []):  # the mosaic demo too
        assert main(["demo", *target, "--out", str(taken), "--overwrite"]) == 2
        assert f"{taken}: is a file; give a folder for the demo" in capsys.readouterr().err
    assert taken.read_text() == "mine"


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["demo"], ["demo", "mosaic"]),
        (["demo", "--out", "d"], ["demo", "mosaic", "--out", "d"]),
        (["--debug", "demo", "--seed", "1"], ["--debug", "demo", "mosaic", "--seed", "1"]),
        (["demo", "photos", "--out", "d"], ["demo", "photos", "--out", "d"]),
        (["demo", "mosaic"], ["demo", "mosaic"]),
        (["demo", "--help"], ["demo", "--help"]),
    ],
)
def test_demo_without_a_target_means_the_mosaic_demo(argv: list[str], expected: list[str]) -> None:
    assert default_target(argv) == expected
