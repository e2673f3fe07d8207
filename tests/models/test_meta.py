"""Model metadata as typed data: the task enum, the header JSON of 0.1.0 files, no cycles."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from rcm.errors import InputError
from rcm.models import (
    TASKS,
    WINDOW_MODELS,
    ModelMeta,
    Task,
    WindowFamily,
    read_meta,
    save_model,
    window_family,
)

# The header entry rcm 0.1.0 wrote for this metadata, and the sha256 of its file
# holding `_linear()` (safetensors, 512 bytes).
HEADER_0_1_0 = (
    '{"architecture": "fpn", "classes": ["background", "lesion"], "format": "rcm-model/1", '
    '"in_chans": 1, "mean": [0.5], "positive": ["lesion"], "provenance": {"release": "0.1.0"}, '
    '"settings": {"encoder": "resnet18"}, "std": [0.25], "task": "segmenter", "tile_px": 64, '
    '"um_per_px": 0.5}'
)
FILE_0_1_0_SHA256 = "e078d646eeb9fc64d10f51ed745761962aeaa989c4fe58b75f3f2923674d1537"
SEGMENTER = ModelMeta(
    architecture="fpn",
    task=Task.SEGMENTER,
    classes=("background", "lesion"),
    positive=("lesion",),
    tile_px=64,
    um_per_px=0.5,
    settings={"encoder": "resnet18"},
    provenance={"release": "0.1.0"},
)


def _linear() -> nn.Module:
    module = nn.Linear(3, 2)
    with torch.no_grad():
        module.weight.copy_(torch.arange(6.0).reshape(2, 3))
        module.bias.copy_(torch.tensor([1.0, 2.0]))
    return module


def test_task_is_one_enum_that_still_reads_as_its_string() -> None:
    assert TASKS == ("classifier", "detector", "segmenter", "photo-classifier", "photo-detector")
    assert Task.DETECTOR == "detector" and f"a {Task.DETECTOR}" == "a detector"
    assert {"segmenter": 1}[Task.SEGMENTER] == 1
    assert Task.parse("classifier") is Task.CLASSIFIER
    with pytest.raises(ValueError, match="task must be one of classifier, detector, segmenter"):
        Task.parse("regressor")


def test_meta_converts_a_task_string_to_the_enum() -> None:
    meta = ModelMeta(architecture="maskrcnn", task="detector", classes=("a",), positive=("a",))
    assert meta.task is Task.DETECTOR
    assert ModelMeta(architecture="x", classes=("a", "b"), positive=("b",)).task is Task.CLASSIFIER


def test_header_and_file_are_those_of_0_1_0(tmp_path: Path) -> None:
    assert SEGMENTER.to_json() == HEADER_0_1_0
    path = save_model(tmp_path / "m.safetensors", _linear(), SEGMENTER)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == FILE_0_1_0_SHA256


def test_a_0_1_0_file_reads_with_its_task_as_the_enum(tmp_path: Path) -> None:
    path = tmp_path / "old.safetensors"
    save_file(dict(_linear().state_dict()), str(path), metadata={"rcm": HEADER_0_1_0})
    meta = read_meta(path)
    assert meta == SEGMENTER and meta.task is Task.SEGMENTER


def test_an_unknown_task_in_a_file_names_the_file_and_the_tasks(tmp_path: Path) -> None:
    path = tmp_path / "odd.safetensors"
    header = HEADER_0_1_0.replace('"segmenter"', '"regressor"')
    save_file(dict(_linear().state_dict()), str(path), metadata={"rcm": header})
    allowed = "classifier, detector, segmenter, photo-classifier, photo-detector, got 'regressor'"
    with pytest.raises(InputError, match=allowed) as info:
        read_meta(path)
    assert info.value.path == str(path)


def test_window_families_hold_a_window_task() -> None:
    assert {family.task for family in WINDOW_MODELS.values()} == {Task.DETECTOR, Task.SEGMENTER}
    assert window_family("maskrcnn", "detector") is window_family("maskrcnn", Task.DETECTOR)
    family = WindowFamily("x", "segmenter", nn.Identity, segment=lambda m, w: w)  # type: ignore[arg-type]
    assert family.task is Task.SEGMENTER
    with pytest.raises(ValueError, match="detector or a segmenter"):
        WindowFamily("x", Task.CLASSIFIER, nn.Identity)
    with pytest.raises(ValueError, match="unknown segmenter architecture 'maskrcnn'"):
        window_family("maskrcnn", Task.SEGMENTER)


def test_model_metadata_imports_no_deep_learning_library() -> None:
    code = (
        "import sys; from rcm.models import ModelMeta, Task; "
        "ModelMeta(architecture='x', classes=('a', 'b'), positive=('b',), task=Task.CLASSIFIER); "
        "print([name for name in ('torch', 'timm') if name in sys.modules])"
    )
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
