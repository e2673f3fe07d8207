from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import zarr
from PIL import Image
from torch import nn

from rcm.cli.main import main
from rcm.data import make_spec, write_synthetic
from rcm.infer import ClassifyOptions, Predictor, TileBatch, classify_mosaic, prepare
from rcm.io import open_mosaic
from rcm.models import LoadedModel, ModelMeta, build_network, save_model, to_model_input
from rcm.outputs import MosaicSummary, TilesBlock, TileTable
from tests.io.writers import write_tiff

META = ModelMeta(
    architecture="test_efficientnet",
    classes=("benign", "suspicious"),
    positive=("suspicious",),
    tile_px=64,
    um_per_px=0.5,
)


@pytest.fixture(scope="module")
def mosaic_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("infer") / "mosaic.tif"
    write_synthetic(make_spec(700, 600, seed=2, lesions=1), path)
    return path


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    return save_model(
        tmp_path_factory.mktemp("model") / "tiny.safetensors", build_network(META), META
    )


class TileMean(nn.Module):
    """Suspicious probability = the tile's mean input (inputs are pixel / 255)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(dim=(1, 2, 3)).clamp(1e-6, 1 - 1e-6)
        return torch.stack([torch.log1p(-mean), torch.log(mean)], dim=1)


def mean_model() -> LoadedModel:
    meta = ModelMeta(
        architecture="none",
        classes=("benign", "suspicious"),
        positive=("suspicious",),
        tile_px=50,
        um_per_px=0.5,
        mean=(0.0,),
        std=(1.0,),
    )
    return LoadedModel(TileMean().eval(), meta, "sha256:test", "memory")


def test_cli_end_to_end_outputs_open(
    mosaic_path: Path, model_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RCM_HOME", str(tmp_path / "home"))
    assert main(["models", "add", str(model_path), "--name", "tiny"]) == 0
    out = tmp_path / "result"
    assert (
        main(
            [
                "infer",
                str(mosaic_path),
                "--model",
                "tiny",
                "--out",
                str(out),
                "--no-progress",
                "--threshold",
                "0.4",
            ]
        )
        == 0
    )
    assert sorted(p.name for p in out.iterdir()) == [
        "heatmap.zarr",
        "mask.zarr",
        "overlay.png",
        "summary.json",
        "suspicious.geojson",
        "tiles.csv",
    ]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "ok" and summary["model"]["name"] == "tiny"
    assert summary["tiles"]["grid"] == [11, 10] and summary["tiles"]["tile_px"] == 64
    assert 0 < summary["tiles"]["classified"] < 110
    assert summary["decision"] in ("suspicious", "not suspicious")
    heat = open_mosaic(out / "heatmap.zarr")
    assert heat.info.shape == (700, 600) and heat.info.um_per_px == 0.5
    tiles = zarr.open_group(out / "heatmap.zarr", mode="r")["tiles"]
    assert tiles.shape == (11, 10)
    mask = open_mosaic(out / "mask.zarr").data.compute()
    assert set(np.unique(mask)) <= {0, 1}
    assert Image.open(out / "overlay.png").size[0] > 0
    geojson = json.loads((out / "suspicious.geojson").read_text())
    assert geojson["type"] == "FeatureCollection"
    rows = (out / "tiles.csv").read_text().splitlines()
    assert len(rows) == 111 and rows[0].startswith("tile,row,col,y0,x0,y1,x1,tissue,p_benign")


def test_heatmap_holds_the_known_per_tile_values(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    image = np.full((430, 510), 5, np.uint8)
    image[150:330, 140:420] = rng.integers(60, 250, (180, 280), dtype=np.uint8)  # tissue
    source = write_tiff(
        tmp_path / "known.tif", image, resolution=(2e4, 2e4), resolutionunit="CENTIMETER"
    )
    out = tmp_path / "known"
    result = classify_mosaic(
        open_mosaic(source), mean_model(), out, options=ClassifyOptions(min_tissue=0.5)
    )
    grid = zarr.open_group(out / "heatmap.zarr", mode="r")["tiles"][:]
    assert grid.shape == (9, 11)
    padded = np.zeros((450, 550), np.uint8)
    padded[:430, :510] = image
    expected = padded.reshape(9, 50, 11, 50).mean(axis=(1, 3)) / 255
    classified = ~np.isnan(grid)
    assert classified.sum() == result.run > 0 and result.total == 99
    assert (result.task, result.unit, result.instances) == ("classifier", "tiles", None)
    table = TileTable.read(out / "tiles.csv")
    np.testing.assert_array_equal(table.classified, classified.ravel())
    np.testing.assert_allclose(table.suspicious[table.classified], grid[classified], rtol=1e-6)
    above = int(np.count_nonzero(grid[classified] >= 0.5))  # the default threshold
    assert 0 < above < result.run
    assert MosaicSummary.read(out / "summary.json").tiles == TilesBlock(
        grid=(9, 11), tile_px=50, stride_px=50, total=99, classified=result.run, suspicious=above
    )
    np.testing.assert_allclose(grid[classified], expected[classified], rtol=1e-5)
    assert not classified[0, 0] and not classified[-1, -1]  # margins skipped
    assert classified[4, 4] and classified[5, 7]  # tissue kept


def test_outputs_are_byte_identical(mosaic_path: Path, model_path: Path, tmp_path: Path) -> None:
    for name in ("a", "b"):
        assert (
            main(
                [
                    "infer",
                    str(mosaic_path),
                    "--weights",
                    str(model_path),
                    "--out",
                    str(tmp_path / name),
                    "--no-progress",
                ]
            )
            == 0
        )
    files_a = sorted(
        p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file()
    )
    files_b = sorted(
        p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*") if p.is_file()
    )
    assert files_a == files_b
    for relative in files_a:
        if relative.name == "summary.json":
            a = json.loads((tmp_path / "a" / relative).read_text())
            b = json.loads((tmp_path / "b" / relative).read_text())
            assert a == b
        else:
            assert (tmp_path / "a" / relative).read_bytes() == (
                tmp_path / "b" / relative
            ).read_bytes()


def test_no_tissue_is_a_result_not_an_error(
    model_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dark = write_tiff(tmp_path / "dark.tif", np.full((300, 300), 4, np.uint8))
    out = tmp_path / "dark"
    assert (
        main(["infer", str(dark), "--weights", str(model_path), "--out", str(out), "--no-progress"])
        == 0
    )
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "no_tissue" and summary["decision"] == "no tissue"
    assert summary["tiles"]["classified"] == 0
    assert json.loads((out / "suspicious.geojson").read_text())["features"] == []
    assert "no tissue" in capsys.readouterr().out


def test_tiles_follow_the_pixel_size(mosaic_path: Path, model_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "fine"
    assert (
        main(
            [
                "infer",
                str(mosaic_path),
                "--weights",
                str(model_path),
                "--out",
                str(out),
                "--um-per-px",
                "0.25",
                "--no-progress",
            ]
        )
        == 0
    )
    summary = json.loads((out / "summary.json").read_text())
    assert summary["tiles"]["tile_px"] == 128  # 64 px at 0.5 um = 128 px at 0.25 um


@pytest.mark.parametrize(("um_per_px", "edge"), [("20", "2 px"), ("0.001", "32000 px")])
def test_tiles_too_small_or_too_large_for_the_pixel_size_are_refused(
    mosaic_path: Path,
    model_path: Path,
    tmp_path: Path,
    um_per_px: str,
    edge: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A pixel size far from the model's would cut 2 px tiles (or 32000 px ones): refused."""
    out = tmp_path / "out"
    arguments = ["infer", str(mosaic_path), "--weights", str(model_path), "--out", str(out)]
    assert main([*arguments, "--um-per-px", um_per_px, "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert str(mosaic_path) in err and edge in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ([], "no model given"),
        (["--model", "absent"], "no model named 'absent'"),
        (["--weights", "missing.safetensors"], "model file not found"),
    ],
)
def test_refuses_without_a_usable_model(
    mosaic_path: Path,
    tmp_path: Path,
    arguments: list[str],
    message: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("RCM_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    assert main(["infer", str(mosaic_path), *arguments, "--no-progress"]) == 2
    assert message in capsys.readouterr().err
    assert list(tmp_path.glob("*.rcm")) == []


def test_altered_store_entry_and_non_image(
    mosaic_path: Path,
    model_path: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("RCM_HOME", str(tmp_path / "home"))
    assert main(["models", "add", str(model_path), "--name", "tiny"]) == 0
    stored = tmp_path / "home" / "models" / "tiny.safetensors"
    stored.write_bytes(stored.read_bytes()[:-10])
    out = tmp_path / "o"
    assert main(["infer", str(mosaic_path), "--model", "tiny", "--out", str(out)]) == 2
    assert "altered" in capsys.readouterr().err and not out.exists()
    text = tmp_path / "notes.tif"
    text.write_text("not an image")
    assert main(["infer", str(text), "--weights", str(model_path), "--out", str(out)]) == 2
    assert "not recognisable image data" in capsys.readouterr().err and not out.exists()


def test_prepare_follows_the_pixel_rule() -> None:
    rng = np.random.default_rng(0)
    gray = rng.integers(0, 256, (3, 8, 8), dtype=np.uint8)
    rgb = rng.integers(0, 65536, (3, 8, 8, 3), dtype=np.uint16)
    for pixels, channels in ((gray, 3), (rgb, 1), (gray, 1), (rgb, 3)):
        meta = ModelMeta(
            architecture="x",
            classes=("a", "b"),
            positive=("b",),
            tile_px=8,
            in_chans=channels,
            mean=(0.0,) * channels,
            std=(1.0,) * channels,
        )
        model = LoadedModel(nn.Identity(), meta, "", "")
        batch = pixels[..., None] if pixels.ndim == 3 else pixels
        np.testing.assert_allclose(
            prepare(pixels, model, torch.device("cpu"), 8).numpy(),
            to_model_input(batch, channels),
            rtol=1e-6,
        )


def test_gpu_out_of_memory_halves_the_batch() -> None:
    class Fussy(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if len(x) > 4:
                raise torch.cuda.OutOfMemoryError("CUDA out of memory")
            return torch.zeros(len(x), 2)

    meta = ModelMeta(architecture="x", classes=("a", "b"), positive=("b",), tile_px=8)
    predictor = Predictor(LoadedModel(Fussy(), meta, "", ""), torch.device("cpu"), 8)
    batches = [TileBatch(np.arange(i, i + 16), np.zeros((16, 8, 8), np.uint8)) for i in (0, 16)]
    results = list(predictor(batches))
    assert [len(p) for _, p in results] == [16, 16]
    assert predictor.max_batch == 4


def test_converted_zarr_gives_the_same_predictions(
    mosaic_path: Path, model_path: Path, tmp_path: Path
) -> None:
    """Tiles read from the OME-Zarr store (overview from its pyramid) match the TIFF's."""
    store = tmp_path / "mosaic.zarr"
    assert main(["convert", str(mosaic_path), str(store), "--no-progress"]) == 0
    for name, source in (("tif", mosaic_path), ("zarr", store)):
        assert (
            main(
                [
                    "infer",
                    str(source),
                    "--weights",
                    str(model_path),
                    "--out",
                    str(tmp_path / name),
                    "--no-progress",
                ]
            )
            == 0
        )
    tif = (tmp_path / "tif" / "tiles.csv").read_text()
    zarr_rows = (tmp_path / "zarr" / "tiles.csv").read_text()
    assert tif.splitlines()[0] == zarr_rows.splitlines()[0]
    # Same tiles classified with the same probabilities (the overview may differ slightly).
    a = {r.split(",")[0]: r.split(",")[8:] for r in tif.splitlines()[1:] if r.split(",")[8]}
    b = {r.split(",")[0]: r.split(",")[8:] for r in zarr_rows.splitlines()[1:] if r.split(",")[8]}
    common = set(a) & set(b)
    assert len(common) > 0.9 * max(len(a), len(b))
    assert all(a[key] == b[key] for key in common)
