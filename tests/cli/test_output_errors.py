"""Outputs that cannot be written: one line naming the output, exit 2, nothing left behind."""

from __future__ import annotations

import errno
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from rcm.cli.main import main
from rcm.models import ModelMeta, build_network, save_model


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from rcm.data import make_spec, write_synthetic

    folder = tmp_path_factory.mktemp("inputs")
    write_synthetic(make_spec(320, 300, seed=1, lesions=1), folder / "m.tif")
    meta = ModelMeta(
        architecture="test_efficientnet",
        classes=("benign", "suspicious"),
        positive=("suspicious",),
        tile_px=64,
    )
    torch.manual_seed(0)
    save_model(folder / "model.safetensors", build_network(meta), meta)
    return folder


def _no_space(*args: Any, **kwargs: Any) -> Any:
    raise OSError(errno.ENOSPC, "No space left on device")


def _hidden(folder: Path) -> list[str]:
    return [p.name for p in folder.rglob(".*")]


def _zarr_full(monkeypatch: pytest.MonkeyPatch) -> None:
    import zarr.storage._local as local

    monkeypatch.setattr(local, "_put", _no_space)


def _copy_full(monkeypatch: pytest.MonkeyPatch) -> None:
    import rcm.models._store as store

    monkeypatch.setattr(store.shutil, "copyfile", _no_space)


COMMANDS: dict[str, tuple[Callable[[Path, Path], list[str]], str, Any]] = {
    "convert": (
        lambda i, out: ["convert", str(i / "m.tif"), str(out / "m.zarr")],
        "m.zarr",
        _zarr_full,
    ),
    "infer": (
        lambda i, out: [
            *("infer", str(i / "m.tif"), "--weights", str(i / "model.safetensors")),
            *("--out", str(out / "m.rcm")),
        ],
        "m.rcm",
        _zarr_full,
    ),
    "models add": (
        lambda i, out: ["models", "add", str(i / "model.safetensors"), "--name", "tiny"],
        "models/tiny.safetensors",
        _copy_full,
    ),
}


@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_full_disk_is_exit_2_naming_the_output(
    inputs: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: str,
) -> None:
    arguments, output, fill = COMMANDS[command]
    monkeypatch.setenv("RCM_HOME", str(tmp_path))
    fill(monkeypatch)
    progress = [] if command == "models add" else ["--no-progress"]
    assert main([*arguments(inputs, tmp_path), *progress]) == 2
    message = capsys.readouterr().err.strip()
    assert message == f"rcm: error: {tmp_path / output}: cannot be written: No space left on device"
    assert _hidden(tmp_path) == []
    assert not (tmp_path / output).exists()


def test_two_infers_to_one_output_the_second_is_refused_and_the_first_kept(
    inputs: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Both pass the existence check; the one that finishes second must not replace the first."""
    import rcm.infer._classify as classify

    out = tmp_path / "m.rcm"
    arguments = [*COMMANDS["infer"][0](inputs, tmp_path), "--no-progress"]
    real = classify.write_classifier_outputs
    first_done = threading.Event()

    def slow_second(folder: Path, *args: Any) -> None:
        real(folder, *args)
        if threading.current_thread() is not threading.main_thread():
            first_done.wait(60)  # the second writer finishes after the first

    monkeypatch.setattr(classify, "write_classifier_outputs", slow_second)
    codes: list[int] = []
    second = threading.Thread(target=lambda: codes.append(main(arguments)))
    second.start()
    deadline = time.monotonic() + 60  # bounded: a second writer that never starts fails here
    while not any(p.name.startswith(".m.rcm.partial-") for p in tmp_path.iterdir()):
        assert second.is_alive() and time.monotonic() < deadline, "the second infer never began"
        second.join(0.05)
    assert main(arguments) == 0
    kept = (out / "tiles.csv").read_bytes()
    first_done.set()
    second.join()
    assert codes == [2]
    assert f"{out}: already exists" in capsys.readouterr().err
    assert (out / "tiles.csv").read_bytes() == kept and _hidden(tmp_path) == []
    shutil.rmtree(out)
