from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import zarr

from rcm.cli.main import build_parser, main
from rcm.io import open_mosaic

COMMANDS = [
    "synth",
    "convert",
    "info",
    "demo",
    "infer",
    "explain",
    "train",
    "data",
    "models",
    "evaluate",
    "run",
    "status",
]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        main([command, "--help"])
    assert stop.value.code == 0
    assert "usage: rcm " + command in capsys.readouterr().out


def test_parser_knows_every_command() -> None:
    actions = [a for a in build_parser()._actions if a.dest == "command"]
    assert sorted(actions[0].choices) == sorted(COMMANDS)  # type: ignore[arg-type]


def test_synth_convert_info(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mosaic, store = tmp_path / "m.tif", tmp_path / "m.zarr"
    assert (
        main(
            [
                "synth",
                str(mosaic),
                "--height",
                "600",
                "--width",
                "700",
                "--seed",
                "5",
                "--lesions",
                "2",
                "--no-progress",
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "convert",
                str(mosaic),
                str(store),
                "--chunk",
                "128",
                "--shard",
                "256",
                "--no-progress",
            ]
        )
        == 0
    )
    np.testing.assert_array_equal(
        open_mosaic(store).data.compute(), open_mosaic(mosaic).data.compute()
    )
    attrs = zarr.open_group(store, mode="r").attrs["rcm"]
    assert attrs["source"]["checksum"] == open_mosaic(mosaic).info.checksum
    assert attrs["convert_options"]["chunk"] == 128
    capsys.readouterr()
    assert main(["info", str(store), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["shape"] == [600, 700] and info["um_per_px"] == 0.5
    assert main(["info", str(mosaic)]) == 0
    assert "0.5 um/px" in capsys.readouterr().out


def test_convert_pixel_size_override(tmp_path: Path) -> None:
    mosaic, store = tmp_path / "m.tif", tmp_path / "m.zarr"
    main(["synth", str(mosaic), "--size", "200", "--no-progress"])
    assert main(["convert", str(mosaic), str(store), "--um-per-px", "0.8", "--no-progress"]) == 0
    assert open_mosaic(store).info.um_per_px == pytest.approx(0.8)


def test_internal_error_exits_1(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import rcm.cli._io_commands as commands

    def broken(*args: object, **kwargs: object) -> None:
        raise ZeroDivisionError("bug")

    monkeypatch.setattr(commands, "open_mosaic", broken)
    assert main(["info", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "internal error: ZeroDivisionError: bug" in err and "--debug" in err


def test_demo_runs_the_whole_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RCM_HOME", str(tmp_path / "home"))
    out = tmp_path / "demo"
    small = ["--patients", "8", "--size", "1024", "--epochs", "1", "--no-progress"]
    assert main(["demo", "--out", str(out), *small]) == 0
    printed = capsys.readouterr().out
    assert "[5/5]" in printed and "$ rcm train classifier" in printed
    results = json.loads((out / "demo.json").read_text())
    assert results["held_out_mosaics"] >= 2 and results["tiles"] > 0
    assert (out / "evaluation" / "report.html").is_file()
    assert open_mosaic(out / "cohort" / "P000-M0.zarr").info.shape == (1024, 1024)
    assert main(["demo", "--out", str(out), *small]) == 2  # never over an earlier demo silently
    assert "--overwrite" in capsys.readouterr().err
    assert main(["demo", "--out", str(tmp_path / "few"), "--patients", "4"]) == 2


def test_installed_entry_point(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "rcm", "info", str(tmp_path / "no.tif")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == f"rcm: error: {tmp_path / 'no.tif'}: no such file or directory"
