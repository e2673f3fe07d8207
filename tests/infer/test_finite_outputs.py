"""A model's NaN or infinite outputs fail the mosaic; nothing turns them into "not suspicious"."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import rcm.models
from rcm.cli.main import main
from rcm.errors import InputError
from rcm.infer import ClassifyOptions, WindowOptions, classify_mosaic, detect_mosaic
from rcm.infer._runner import check_finite_outputs
from rcm.io import open_mosaic
from rcm.metrics import coverage_at, coverage_score
from rcm.models import (
    WINDOW_MODELS,
    LoadedModel,
    ModelMeta,
    WindowDetections,
    WindowFamily,
    build_network,
    register_window_model,
    save_model,
)
from tests.io.writers import write_tiff

NUMBERS = r"\d+(, \d+)*"
META = ModelMeta(
    architecture="test_efficientnet",
    classes=("benign", "lesion"),
    positive=("lesion",),
    tile_px=64,
    um_per_px=0.5,
)


def _mosaic(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    image = rng.integers(60, 250, (192, 160), dtype=np.uint8)  # all tissue
    return write_tiff(tmp_path / "mosaic.tif", image)


def _left_behind(folder: Path) -> list[str]:
    return sorted(
        p.name for p in folder.iterdir() if p.name not in ("mosaic.tif", "model.safetensors")
    )


class Constant(nn.Module):
    """Logits that are `value` for one class on every tile."""

    def __init__(self, value: float) -> None:
        super().__init__()
        self.value = value

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = torch.zeros((len(x), 2))
        logits[:, 1] = self.value
        return logits


def _classifier(value: float) -> LoadedModel:
    meta = ModelMeta(
        architecture="none", classes=("benign", "lesion"), positive=("lesion",), tile_px=32
    )
    return LoadedModel(Constant(value).eval(), meta, "sha256:test", "constant.safetensors")


@pytest.mark.parametrize(
    ("value", "kind"), [(float("nan"), "NaN"), (float("inf"), "Inf"), (-float("inf"), "Inf")]
)
def test_non_finite_classifier_outputs_fail_the_mosaic(
    tmp_path: Path, value: float, kind: str
) -> None:
    mosaic = open_mosaic(_mosaic(tmp_path))
    options = ClassifyOptions(batch_size=4)
    with pytest.raises(
        InputError,
        match=f"non-finite outputs \\({kind}\\) on tiles {NUMBERS} \\(numbered as in tiles.csv\\)$",
    ) as info:
        classify_mosaic(mosaic, _classifier(value), tmp_path / "out", options=options)
    assert info.value.path == "constant.safetensors" and "\n" not in str(info.value)
    assert _left_behind(tmp_path) == []


def test_rcm_infer_exits_2_when_the_model_gives_nan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Weights that pass the load check, and a layer that makes NaN of them at run time."""
    torch.manual_seed(0)
    path = save_model(tmp_path / "model.safetensors", build_network(META), META)
    load = rcm.models.load_model

    def nan_after_load(*args: object, **kwargs: object) -> LoadedModel:
        loaded = load(*args, **kwargs)  # type: ignore[arg-type]
        loaded.module.register_forward_hook(lambda module, inputs, output: output * np.nan)
        return loaded

    monkeypatch.setattr(rcm.models, "load_model", nan_after_load)
    out = tmp_path / "out"
    mosaic = _mosaic(tmp_path)
    assert (
        main(["infer", str(mosaic), "--weights", str(path), "--out", str(out), "--no-progress"])
        == 2
    )
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1
    assert f"{path}: model produced non-finite outputs (NaN) on tiles " in error
    assert _left_behind(tmp_path) == []


class Holder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.unused = nn.Parameter(torch.zeros(1))


def _bad_detections(part: str) -> WindowDetections:
    boxes = torch.tensor([[2.0, 2.0, 20.0, 20.0]])
    scores, masks = torch.tensor([0.9]), torch.zeros((1, 64, 64))
    masks[0, 2:20, 2:20] = 1
    if part == "boxes":
        boxes[0, 2] = float("nan")
    elif part == "scores":
        scores[0] = float("nan")
    else:
        masks[0, 5, 5] = float("inf")
    return WindowDetections(boxes, scores, torch.zeros(1, dtype=torch.int64), masks)


def _detect(module: nn.Module, windows: torch.Tensor) -> list[WindowDetections]:
    part = DETECTOR_PART["part"]
    return [_bad_detections(part) for _ in windows]


def _segment(module: nn.Module, windows: torch.Tensor) -> torch.Tensor:
    probabilities = torch.full((len(windows), 2, *windows.shape[-2:]), 0.5)
    probabilities[:, :, 3, 3] = float("nan")
    return probabilities


DETECTOR_PART = {"part": "boxes"}
if "test-nan-detector" not in WINDOW_MODELS:
    register_window_model(
        WindowFamily("test-nan-detector", "detector", lambda **_: Holder(), detect=_detect)
    )
    register_window_model(
        WindowFamily("test-nan-segmenter", "segmenter", lambda **_: Holder(), segment=_segment)
    )


def _window_model(task: str) -> LoadedModel:
    classes = ("lesion",) if task == "detector" else ("background", "lesion")
    meta = ModelMeta(
        architecture=f"test-nan-{task}",
        task=task,
        classes=classes,
        positive=("lesion",),
        tile_px=64,
        mean=(0.0,),
        std=(1.0,),
    )
    return LoadedModel(Holder(), meta, "sha256:test", f"{task}.safetensors")


@pytest.mark.parametrize(
    ("task", "part", "kind"),
    [
        ("detector", "boxes", "NaN"),
        ("detector", "scores", "NaN"),
        ("detector", "masks", "Inf"),
        ("segmenter", None, "NaN"),
    ],
)
def test_non_finite_window_outputs_fail_the_mosaic(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, task: str, part: str | None, kind: str
) -> None:
    monkeypatch.setitem(DETECTOR_PART, "part", part or "")
    mosaic = open_mosaic(_mosaic(tmp_path))
    options = WindowOptions(tissue="all", batch_size=2)
    with pytest.raises(
        InputError, match=f"non-finite outputs \\({kind}\\) on windows 0, 1 "
    ) as info:
        detect_mosaic(mosaic, _window_model(task), tmp_path / "out", options=options)
    assert info.value.path == f"{task}.safetensors"
    assert _left_behind(tmp_path) == []


def test_coverage_refuses_nan_instead_of_counting_it_as_zero() -> None:
    values = np.array([0.9, np.nan, 0.1], np.float32)
    with pytest.raises(ValueError, match="NaN"):
        coverage_score(values, 0.5)
    with pytest.raises(ValueError, match="NaN"):
        coverage_at(values, 0.5)


def test_the_check_names_only_the_tiles_that_went_wrong() -> None:
    outputs = np.zeros((4, 2), np.float32)
    outputs[1, 0], outputs[3, 1] = np.nan, np.inf
    model = _classifier(0.0)
    with pytest.raises(
        InputError, match=r"\(NaN and Inf\) on tiles 9, 14 \(numbered as in tiles.csv\)"
    ):
        check_finite_outputs(model, np.array([7, 9, 12, 14]), outputs, "tile")
    check_finite_outputs(model, np.array([7, 9]), outputs[[0, 2]], "tile")
    many = np.full((12, 2), np.nan, np.float32)
    with pytest.raises(InputError, match=r"on tiles 0, 1, 2, 3, 4 and 7 more \("):
        check_finite_outputs(model, np.arange(12), many, "tile")
