"""Weights as rcm reads them: only finite numbers, and torch files refused in one line."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from rcm.cli.main import main
from rcm.errors import InputError
from rcm.models import ModelMeta, build_network, load_model, save_model

META = ModelMeta(
    architecture="test_efficientnet",
    classes=("benign", "lesion"),
    positive=("lesion",),
    tile_px=64,
    um_per_px=0.5,
)


def _poisoned(value: float) -> tuple[nn.Module, str]:
    """A tiny classifier with `value` in one element of one of its weights, and that weight."""
    torch.manual_seed(0)
    module = build_network(META)
    name, tensor = list(module.state_dict().items())[3]
    with torch.no_grad():
        tensor.view(-1)[1] = value
    return module, name


@pytest.mark.parametrize(("value", "kind"), [(float("nan"), "NaN"), (float("inf"), "Inf")])
def test_a_model_file_with_non_finite_weights_is_refused_at_load(
    tmp_path: Path, value: float, kind: str
) -> None:
    module, name = _poisoned(value)
    path = save_model(tmp_path / "poisoned.safetensors", module, META)
    with pytest.raises(
        InputError, match=f"weight {name} holds non-finite values \\({kind}\\)"
    ) as info:
        load_model(path)
    assert info.value.path == str(path)


def test_a_torch_model_file_with_nan_weights_is_refused(tmp_path: Path) -> None:
    module, name = _poisoned(float("nan"))
    path = tmp_path / "poisoned.pt"
    torch.save({"rcm": META.to_json(), "state_dict": module.state_dict()}, path)
    with pytest.raises(InputError, match=f"weight {name} holds non-finite values"):
        load_model(path)


def test_rcm_infer_refuses_a_nan_model_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    module, name = _poisoned(float("nan"))
    path = save_model(tmp_path / "poisoned.safetensors", module, META)
    mosaic = tmp_path / "m.tif"
    from tests.io.writers import write_tiff

    write_tiff(mosaic, torch.randint(0, 255, (128, 128), dtype=torch.uint8).numpy())
    out = tmp_path / "out"
    assert main(["infer", str(mosaic), "--weights", str(path), "--out", str(out)]) == 2
    error = capsys.readouterr().err.strip()
    assert str(path) in error and name in error and len(error.splitlines()) == 1
    assert not out.exists()


def test_importing_nan_weights_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RCM_HOME", str(tmp_path / "home"))
    module, name = _poisoned(float("nan"))
    checkpoint = tmp_path / "weights.pth"
    torch.save(module.state_dict(), checkpoint)
    args = ["models", "import", str(checkpoint), "--name", "x", "--classes", "benign,lesion"]
    assert main([*args, "--architecture", "test_efficientnet", "--window", "64"]) == 2
    error = capsys.readouterr().err.strip()
    assert str(checkpoint) in error and f"weight {name} holds non-finite values (NaN)" in error


class Evil:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (print, ("code ran",))


def test_importing_a_pickle_bearing_pth_is_refused_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RCM_HOME", str(tmp_path / "home"))
    checkpoint = tmp_path / "weights.pth"
    torch.save({"state_dict": build_network(META).state_dict(), "x": Evil()}, checkpoint)
    args = ["models", "import", str(checkpoint), "--name", "x", "--classes", "benign,lesion"]
    assert main([*args, "--architecture", "test_efficientnet", "--window", "64"]) == 2
    captured = capsys.readouterr()
    error = captured.err.strip()
    assert len(error.splitlines()) == 1, error
    assert str(checkpoint) in error and "pickle" in error and "GLOBAL print" in error
    assert "code ran" not in captured.out


def test_a_pickle_bearing_torch_model_file_is_refused_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "model.pt"
    torch.save({"rcm": META.to_json(), "state_dict": {}, "x": Evil()}, path)
    with pytest.raises(InputError, match="pickle") as info:
        load_model(path)
    assert info.value.path == str(path) and "\n" not in str(info.value)
