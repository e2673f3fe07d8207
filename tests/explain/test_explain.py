"""Grad-CAM explanations: they point at the lesion, they are faithful, and outputs are valid."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from rcm.cli.main import main
from rcm.errors import InputError
from rcm.explain import ExplainOptions, class_activation_maps, explain_output
from rcm.infer import ClassifyOptions, classify_mosaic
from rcm.io import open_mosaic
from rcm.metrics import plausibility
from rcm.models import LoadedModel, ModelMeta, build_classifier, build_network, save_model
from rcm.outputs import ExplanationSummary, ExplanationTable, MosaicSummary
from tests.io.writers import write_tiff

TILE = 32


class TinyNet(nn.Module):
    """A small CNN with timm's forward_features / forward_head split."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(8, 16, 3, padding=1, stride=2),
            nn.ReLU(),
            nn.Conv2d(16, 16, 3, padding=1),
            nn.ReLU(),
        )
        self.fc = nn.Linear(16, 2)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.fc(features.mean(dim=(2, 3)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def tissue(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return rng.uniform(0.25, 0.55, shape).astype(np.float32)


def add_disc(image: np.ndarray, cy: float, cx: float, radius: float = 4.5) -> None:
    yy, xx = np.mgrid[0 : image.shape[-2], 0 : image.shape[-1]]
    image[..., (yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2] = 0.95


@pytest.fixture(scope="module")
def trained() -> LoadedModel:
    """Learns "a bright disc somewhere in the tile" in a few seconds on CPU."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    network = TinyNet()
    optimiser = torch.optim.Adam(network.parameters(), lr=1e-2)
    for _ in range(150):
        tiles = tissue(rng, (32, 1, TILE, TILE))
        labels = rng.integers(0, 2, 32)
        for tile, label in zip(tiles, labels, strict=True):
            if label:
                add_disc(tile, *rng.uniform(5, TILE - 5, 2))
        loss = nn.functional.cross_entropy(
            network(torch.from_numpy(tiles)), torch.from_numpy(labels)
        )
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    meta = ModelMeta(
        architecture="tiny",
        classes=("benign", "lesion"),
        positive=("lesion",),
        tile_px=TILE,
        mean=(0.0,),
        std=(1.0,),
    )
    return LoadedModel(network.eval(), meta, "sha256:tiny", "memory")


def lesion_mosaic(folder: Path, discs: list[tuple[int, int]]) -> tuple[Path, np.ndarray]:
    rng = np.random.default_rng(1)
    image = np.full((256, 256), 0.02, np.float32)
    image[16:240, 16:240] = tissue(rng, (224, 224))
    lesion = np.zeros(image.shape, np.float32)
    for cy, cx in discs:
        add_disc(image, cy, cx)
        add_disc(lesion, cy, cx)
    path = write_tiff(folder / "mosaic.tif", np.round(image * 255).astype(np.uint8))
    return path, lesion > 0


def test_explanations_point_at_the_lesion_and_are_faithful(
    trained: LoadedModel, tmp_path: Path
) -> None:
    path, lesion = lesion_mosaic(tmp_path, [(50, 60), (140, 170), (200, 90)])
    mosaic = open_mosaic(path)
    classify_mosaic(mosaic, trained, tmp_path / "out", options=ClassifyOptions())
    result = explain_output(tmp_path / "out", mosaic=mosaic, model=trained)
    assert result.tiles_explained >= 3
    folder = tmp_path / "out" / "explanation"
    assert {p.name for p in folder.iterdir()} == {
        "explanation.zarr",
        "overlay.png",
        "gallery.png",
        "tiles.csv",
        "summary.json",
    }
    explanation = open_mosaic(folder / "explanation.zarr").data.compute()
    assert explanation.shape == lesion.shape and 0 <= explanation.min() <= explanation.max() <= 1
    found = plausibility(explanation, lesion)["fuzzy"]
    shuffled = np.random.default_rng(2).permutation(explanation.ravel()).reshape(lesion.shape)
    chance = plausibility(shuffled, lesion)["fuzzy"]
    assert found.dice > 3 * chance.dice and found.sensitivity > 0.5
    faithful = result.faithfulness
    assert faithful["mean_drop_explained"] > faithful["mean_drop_random"] + 0.2
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["tiles_explained"] == result.tiles_explained


def test_no_suspicious_tile_gives_an_empty_valid_explanation(
    trained: LoadedModel, tmp_path: Path
) -> None:
    path, _ = lesion_mosaic(tmp_path, [])
    mosaic = open_mosaic(path)
    classify_mosaic(mosaic, trained, tmp_path / "out")
    result = explain_output(tmp_path / "out", mosaic=mosaic, model=trained)
    assert result.tiles_explained == 0 and result.faithfulness == {}
    explanation = open_mosaic(tmp_path / "out" / "explanation" / "explanation.zarr").data
    assert not explanation.compute().any()
    assert (tmp_path / "out" / "explanation" / "gallery.png").exists()


@pytest.mark.parametrize(
    ("architecture", "edge", "grid"), [("swin-t", 224, 7), ("efficientnet", 128, 4)]
)
def test_swin_and_efficientnet_maps_have_the_feature_grid_and_are_deterministic(
    architecture: str, edge: int, grid: int
) -> None:
    torch.manual_seed(0)
    network = build_classifier(architecture, num_classes=2, tile_px=edge).eval()
    inputs = torch.rand(2, 1, edge, edge)
    for method in ("gradcam", "gradcam++"):
        first, probabilities = class_activation_maps(network, inputs, (1,), method=method)
        second, _ = class_activation_maps(network, inputs, (1,), method=method)
        assert first.shape == (2, grid, grid) and probabilities.shape == (2,)
        assert torch.equal(first, second)
        assert float(first.min()) >= 0 and float(first.max()) <= 1


def test_cli_infer_explain_then_explain_again(tmp_path: Path) -> None:
    from rcm.data import make_spec, write_synthetic

    mosaic = tmp_path / "mosaic.tif"
    write_synthetic(make_spec(400, 400, seed=5, lesions=1), mosaic)
    meta = ModelMeta(
        architecture="test_efficientnet",
        classes=("benign", "lesion"),
        positive=("lesion",),
        tile_px=64,
    )
    torch.manual_seed(0)
    weights = save_model(tmp_path / "model.safetensors", build_network(meta), meta)
    out = tmp_path / "out"
    code = main(
        [
            *("infer", str(mosaic), "--weights", str(weights), "--out", str(out)),
            *("--explain", "--cut", "0", "--gallery", "4", "--no-progress"),
        ]
    )
    assert code == 0 and (out / "explanation" / "explanation.zarr").exists()
    assert main(["explain", str(out), "--method", "gradcam++", "--no-progress"]) == 2  # exists
    assert main(["explain", str(out), "--method", "gradcam++", "--overwrite", "--cut", "0"]) == 0
    summary = json.loads((out / "explanation" / "summary.json").read_text())
    assert summary["method"] == "gradcam++" and summary["tiles_explained"] > 0
    typed = ExplanationSummary.read(out / "explanation" / "summary.json")
    table = ExplanationTable.read(out / "explanation" / "tiles.csv")
    assert typed.tiles_explained == len(table) == summary["tiles_explained"]
    assert typed.map == MosaicSummary.read(out / "summary.json").map
    assert not np.isnan(table.top_blocked).any()  # faithfulness measured by default


def test_explanations_refuse_other_inputs(trained: LoadedModel, tmp_path: Path) -> None:
    path, _ = lesion_mosaic(tmp_path, [(50, 60)])
    classify_mosaic(open_mosaic(path), trained, tmp_path / "out")
    other = write_tiff(tmp_path / "other.tif", np.zeros((256, 256), np.uint8))
    with pytest.raises(InputError, match="not the mosaic"):
        explain_output(tmp_path / "out", mosaic=open_mosaic(other), model=trained)
    (tmp_path / "window-run").mkdir()
    window_summary = Path(__file__).parents[1] / "fixtures" / "release-0.1.0" / "window"
    shutil.copyfile(window_summary / "summary.json", tmp_path / "window-run" / "summary.json")
    with pytest.raises(InputError, match="tile classifier outputs only"):
        explain_output(tmp_path / "window-run")
    (tmp_path / "window-run" / "summary.json").write_text(json.dumps({"task": "detector"}))
    with pytest.raises(InputError, match=r"not an rcm infer output \(summary.json: lacks status"):
        explain_output(tmp_path / "window-run")
    with pytest.raises(ValueError, match="occlusion"):
        ExplainOptions(occlusion=1.5)


def test_rcm_evaluate_pools_plausibility_and_faithfulness(
    trained: LoadedModel, tmp_path: Path
) -> None:
    import dask.array as da

    from rcm.io import ZarrWriteOptions, write_ome_zarr

    rows = ["mosaic_id,patient_id,label,mask"]
    for name, discs in (("with", [(60, 60), (150, 180)]), ("without", [])):
        folder = tmp_path / name
        folder.mkdir()
        path, lesion = lesion_mosaic(folder, discs)
        mosaic = open_mosaic(path)
        output = tmp_path / "outputs" / f"{name}.rcm"
        classify_mosaic(mosaic, trained, output)
        explain_output(output, mosaic=mosaic, model=trained)
        write_ome_zarr(
            da.from_array(lesion.astype(np.uint8)),
            folder / "lesions.zarr",
            um_per_px=None,
            options=ZarrWriteOptions(labels=True),
        )
        label = "malignant" if discs else "benign"
        rows.append(f"{name},p-{name},{label},{folder / 'lesions.zarr'}")
    (tmp_path / "truth.csv").write_text("\n".join(rows) + "\n")
    report = tmp_path / "report"
    code = main(
        [
            *("evaluate", str(tmp_path / "outputs"), "--truth", str(tmp_path / "truth.csv")),
            *("--out", str(report), "--bootstrap", "20"),
        ]
    )
    assert code == 0
    explained = json.loads((report / "metrics.json").read_text())["explanations"]
    assert explained["mosaics_explained"] == 2
    assert explained["plausibility"]["pooled"]["fuzzy"]["dice"] > 0.1
    assert explained["faithfulness"]["tiles"] >= 2
    assert "<h2>Explanations</h2>" in (report / "report.html").read_text()


@pytest.mark.parametrize("mosaic_um_per_px", [2.0, 0.5], ids=["coarser", "finer"])
def test_every_file_is_valid_when_tiles_are_cut_at_another_size_than_the_models(
    trained: LoadedModel, tmp_path: Path, mosaic_um_per_px: float
) -> None:
    from dataclasses import replace

    import dask.array as da
    from PIL import Image

    from rcm.io import write_ome_zarr
    from rcm.render._gallery import COLUMNS, EDGE

    # The model sees 32 px tiles of 1 um/px; the mosaic is the same scene at another pixel size.
    model = LoadedModel(
        trained.module, replace(trained.meta, um_per_px=1.0), trained.checksum, trained.path
    )
    scene, lesion = lesion_mosaic(tmp_path, [(50, 60), (140, 170), (200, 90)])
    pixels = open_mosaic(scene).data.compute()
    zoom = 1.0 / mosaic_um_per_px  # mosaic pixels per model pixel
    if zoom < 1:
        step = round(1 / zoom)
        pixels = pixels.reshape(128, step, 128, step).mean(axis=(1, 3)).astype(np.uint8)
        lesion = lesion.reshape(128, step, 128, step).mean(axis=(1, 3)) >= 0.5
    else:
        step = round(zoom)
        pixels = np.repeat(np.repeat(pixels, step, 0), step, 1)
        lesion = np.repeat(np.repeat(lesion, step, 0), step, 1)
    path = write_ome_zarr(da.from_array(pixels), tmp_path / "m.zarr", um_per_px=mosaic_um_per_px)
    mosaic = open_mosaic(path)
    classify_mosaic(mosaic, model, tmp_path / "out")
    tiles_px = MosaicSummary.read(tmp_path / "out" / "summary.json").tiles
    assert tiles_px is not None and tiles_px.tile_px == round(TILE * zoom)  # cut at another size
    result = explain_output(tmp_path / "out", mosaic=mosaic, model=model)
    assert result.tiles_explained >= 3
    folder = tmp_path / "out" / "explanation"
    layout = MosaicSummary.read(tmp_path / "out" / "summary.json").map
    # Map: the heatmap's layout, in [0, 1], pointing at the lesions.
    explanation = open_mosaic(folder / "explanation.zarr").data.compute()
    assert explanation.shape == layout.shape and 0 <= explanation.min() <= explanation.max() <= 1
    from rcm.stitch import resize_nearest

    truth = resize_nearest(lesion, explanation.shape)
    found = plausibility(explanation, truth)["fuzzy"]
    shuffled = np.random.default_rng(2).permutation(explanation.ravel()).reshape(truth.shape)
    assert found.dice > 2 * plausibility(shuffled, truth)["fuzzy"].dice
    # Table: one row per explained tile, faithfulness measured for each.
    table = ExplanationTable.read(folder / "tiles.csv")
    assert len(table) == result.tiles_explained and not np.isnan(table.top_blocked).any()
    # Gallery: one cell pair per shown tile (default 16), the overlay over the whole mosaic.
    shown = min(16, result.tiles_explained)
    with Image.open(folder / "gallery.png") as gallery:
        assert gallery.size == (COLUMNS * 2 * EDGE, -(-shown // COLUMNS) * (EDGE + 16))
    with Image.open(folder / "overlay.png") as overlay:
        assert overlay.size[0] > 0 and overlay.size[1] > 0
    # Summary: the output's layout, the tiles explained and the faithfulness found.
    summary = ExplanationSummary.read(folder / "summary.json")
    assert summary.map == layout and summary.tiles_explained == result.tiles_explained
    assert summary.faithfulness == result.faithfulness and result.faithfulness["tiles"] >= 3
