"""Detectors and segmenters over whole mosaics: seams, outputs, determinism, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import zarr
from pycocotools import mask as mask_utils
from scipy import ndimage
from torch import nn

from rcm.cli.main import main
from rcm.errors import InputError
from rcm.infer import WindowOptions, detect_mosaic
from rcm.io import open_mosaic
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
from rcm.outputs import MosaicSummary, WindowTable
from tests.io.writers import write_tiff


class Blobs(nn.Module):
    """Holds one parameter so it moves between devices like a real network."""

    def __init__(self) -> None:
        super().__init__()
        self.unused = nn.Parameter(torch.zeros(1))


def detect_blobs(module: nn.Module, windows: torch.Tensor) -> list[WindowDetections]:
    """A translation-equivariant detector: every bright connected region is an object."""
    found = []
    for window in windows.cpu().numpy()[:, 0]:
        components, count = ndimage.label(window > 0.5)
        boxes, masks = [], []
        for number, (rows, cols) in enumerate(ndimage.find_objects(components), start=1):
            boxes.append([cols.start, rows.start, cols.stop, rows.stop])
            masks.append(components == number)
        found.append(
            WindowDetections(
                boxes=torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
                scores=torch.full((count,), 0.9),
                labels=torch.zeros(count, dtype=torch.int64),
                masks=torch.from_numpy(np.array(masks, np.float32).reshape(-1, *window.shape)),
            )
        )
    return found


if "test-blobs" not in WINDOW_MODELS:
    register_window_model(
        WindowFamily("test-blobs", "detector", lambda **_: Blobs(), detect=detect_blobs)
    )

BLOB_META = ModelMeta(
    architecture="test-blobs",
    task="detector",
    classes=("lesion",),
    positive=("lesion",),
    tile_px=64,
    mean=(0.0,),
    std=(1.0,),
)


def blob_image() -> tuple[np.ndarray, list[tuple[slice, slice]]]:
    """Dark image with bright rectangles across window edges and corners (windows 64, stride 32)."""
    image = np.zeros((300, 262), np.uint8)
    places = [(20, 50, 12, 25), (52, 52, 24, 24), (120, 90, 30, 9), (180, 150, 8, 30)]
    places += [(250, 10, 20, 20), (10, 230, 25, 20)]  # the last one reaches the right border
    objects = []
    for top, left, height, width in places:
        region = (slice(top, top + height), slice(left, min(left + width, 262)))
        image[region] = 255
        objects.append(region)
    image[120:129, 95] = 0  # a notch: masks must be exact, not boxes
    return image, objects


def test_objects_across_seams_come_out_once_with_their_true_extent(tmp_path: Path) -> None:
    image, objects = blob_image()
    path = write_tiff(tmp_path / "blobs.tif", image)
    model = LoadedModel(Blobs(), BLOB_META, "sha256:test", "memory")
    options = WindowOptions(overlap=0.5, tissue="all", blend="constant", batch_size=3)
    result = detect_mosaic(open_mosaic(path), model, tmp_path / "out", options=options)

    found = json.loads((tmp_path / "out" / "instances.json").read_text())
    assert result.instances == len(found) == len(objects)
    truth = sorted(
        ([c.start, r.start, c.stop - c.start, r.stop - r.start], (r, c)) for r, c in objects
    )
    for detection, (box, region) in zip(sorted(found, key=lambda d: d["bbox"]), truth, strict=True):
        assert detection["bbox"] == box
        assert detection["category_id"] == 1 and detection["score"] == pytest.approx(0.9)
        decoded = mask_utils.decode(detection["segmentation"]).astype(bool)
        expected = np.zeros(image.shape, bool)
        expected[region] = image[region] > 0
        assert np.array_equal(decoded, expected)
        assert detection["area"] == int(expected.sum())
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["task"] == "detector" and summary["decision"] == "suspicious"
    assert summary["instances"]["by_category"] == {"lesion": len(objects)}
    labels = np.asarray(zarr.open_group(tmp_path / "out" / "labels.zarr")["0"])
    assert set(np.unique(labels)) == {0, 1}
    geojson = json.loads((tmp_path / "out" / "instances.geojson").read_text())
    assert len(geojson["features"]) == len(objects)
    assert geojson["features"][0]["properties"]["classification"]["name"] == "lesion"


def test_merge_by_nms_keeps_pieces_apart(tmp_path: Path) -> None:
    """NMS keeps the best piece per group: an object cut by no window stays whole either way."""
    image, objects = blob_image()
    path = write_tiff(tmp_path / "blobs.tif", image)
    model = LoadedModel(Blobs(), BLOB_META, "sha256:test", "memory")
    options = WindowOptions(overlap=0.5, tissue="all", merge="nms")
    detect_mosaic(open_mosaic(path), model, tmp_path / "out", options=options)
    found = json.loads((tmp_path / "out" / "instances.json").read_text())
    assert len(found) >= len(objects)  # pieces of cut objects no bigger piece contains survive


@pytest.fixture(scope="module")
def mosaic_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from rcm.data import make_spec, write_synthetic

    path = tmp_path_factory.mktemp("windows") / "mosaic.tif"
    write_synthetic(make_spec(320, 300, seed=4, lesions=1), path)
    return path


def small_model(folder: Path, architecture: str, **settings: str) -> Path:
    task = "segmenter" if architecture in ("fpn", "unet") else "detector"
    classes = ("background", "lesion") if task == "segmenter" else ("lesion", "other")
    meta = ModelMeta(
        architecture=architecture,
        task=task,
        classes=classes,
        positive=("lesion",),
        tile_px=128,
        settings=settings,
    )
    torch.manual_seed(0)
    return save_model(
        folder / f"{architecture}.safetensors", build_network(meta), meta, overwrite=True
    )


@pytest.mark.parametrize(
    ("architecture", "settings"),
    [
        ("maskrcnn", {"backbone": "resnet18"}),
        ("fasterrcnn", {"backbone": "resnet18"}),
        ("fpn", {"encoder": "resnet18"}),
        ("unet", {"encoder": "resnet18"}),
    ],
)
def test_every_backend_runs_on_a_small_mosaic(
    architecture: str, settings: dict[str, str], mosaic_path: Path, tmp_path: Path
) -> None:
    weights = small_model(tmp_path, architecture, **settings)
    out = tmp_path / "out"
    code = main(
        [
            "infer",
            str(mosaic_path),
            "--weights",
            str(weights),
            "--out",
            str(out),
            "--no-progress",
            "--min-score",
            "0",
            "--max-detections",
            "8",
            "--batch-size",
            "2",
        ]
    )
    assert code == 0
    expected = {"summary.json", "instances.json", "instances.geojson", "heatmap.zarr"}
    expected |= {"labels.zarr", "mask.zarr", "overlay.png", "windows.csv"}
    if architecture in ("fpn", "unet"):
        expected.add("probabilities.zarr")
    assert {p.name for p in out.iterdir()} == expected
    summary = json.loads((out / "summary.json").read_text())
    assert summary["windows"]["window_px"] == 128 and summary["windows"]["run"] > 0
    assert summary["model"]["architecture"] == architecture
    typed = MosaicSummary.read(out / "summary.json")
    assert (
        typed.task
        == summary["task"]
        == ("segmenter" if architecture in ("fpn", "unet") else "detector")
    )
    assert typed.windows is not None and typed.instances is not None
    assert WindowTable.read(out / "windows.csv").ran.sum() == typed.windows.run
    heat = open_mosaic(out / "heatmap.zarr")
    assert heat.info.shape == (320, 300)  # map scale 1 for a small mosaic
    for detection in json.loads((out / "instances.json").read_text()):
        x, y, w, h = detection["bbox"]
        assert x >= 0 and y >= 0 and x + w <= 300 and y + h <= 320
        assert ("segmentation" in detection) == (architecture != "fasterrcnn")


def test_results_are_byte_identical(mosaic_path: Path, tmp_path: Path) -> None:
    weights = small_model(tmp_path, "fpn", encoder="resnet18")
    outputs = []
    for name in ("a", "b"):
        out = tmp_path / name
        assert main(["infer", str(mosaic_path), "--weights", str(weights), "--out", str(out)]) == 0
        outputs.append(out)
    for name in ("instances.json", "instances.geojson", "summary.json", "overlay.png"):
        first, second = ((o / name).read_bytes() for o in outputs)
        if name == "summary.json":  # the output folder's own name differs
            first, second = first.replace(b'"a"', b""), second.replace(b'"b"', b"")
        assert first == second, name
    maps = [np.asarray(zarr.open_group(o / "probabilities.zarr")["0"]) for o in outputs]
    np.testing.assert_array_equal(*maps)


def test_mosaic_without_tissue_gives_an_empty_valid_result(tmp_path: Path) -> None:
    path = write_tiff(tmp_path / "dark.tif", np.zeros((200, 200), np.uint8))
    model = LoadedModel(Blobs(), BLOB_META, "sha256:test", "memory")
    result = detect_mosaic(
        open_mosaic(path), model, tmp_path / "out", options=WindowOptions(tissue="detect")
    )
    assert result.status == "no_tissue" and result.run == 0 and result.instances == 0
    assert (result.task, result.unit, result.decision) == ("detector", "windows", "no tissue")
    summary = MosaicSummary.read(tmp_path / "out" / "summary.json")
    assert summary.task == "detector" and summary.windows is not None
    assert summary.windows.total == result.total
    assert not WindowTable.read(tmp_path / "out" / "windows.csv").ran.any()
    assert json.loads((tmp_path / "out" / "instances.json").read_text()) == []


def test_a_photograph_smaller_than_the_window_runs_as_one_window(tmp_path: Path) -> None:
    from PIL import Image

    photo = np.zeros((150, 200, 3), np.uint8)
    photo[40:80, 60:120] = 255
    Image.fromarray(photo).save(tmp_path / "photo.png")
    colour = {"in_chans": 3, "mean": (0.0,) * 3, "std": (1.0,) * 3, "tile_px": 256}
    meta = ModelMeta(**{**BLOB_META.__dict__, **colour})
    model = LoadedModel(Blobs(), meta, "sha256:test", "memory")
    result = detect_mosaic(open_mosaic(tmp_path / "photo.png"), model, tmp_path / "out")
    assert (result.total, result.run) == (1, 1)
    found = json.loads((tmp_path / "out" / "instances.json").read_text())
    assert [d["bbox"] for d in found] == [[60, 40, 60, 40]]


def test_a_window_larger_than_the_mosaic_is_refused(mosaic_path: Path, tmp_path: Path) -> None:
    weights = small_model(tmp_path, "fpn", encoder="resnet18")
    code = main(
        [
            "infer",
            str(mosaic_path),
            "--weights",
            str(weights),
            "--window",
            "4096",
            "--out",
            str(tmp_path / "out"),
        ]
    )
    assert code == 2 and not (tmp_path / "out").exists()
    with pytest.raises(InputError, match="larger than the mosaic"):
        detect_mosaic(
            open_mosaic(mosaic_path),
            LoadedModel(Blobs(), BLOB_META, "", ""),
            tmp_path / "out",
            options=WindowOptions(window_px=1000),
        )


def test_window_outputs_feed_rcm_evaluate(tmp_path: Path) -> None:
    """Masks, objects and scores of a window run are what `rcm evaluate` reads."""
    from rcm.data import make_spec, write_synthetic

    model = LoadedModel(Blobs(), BLOB_META, "sha256:test", "memory")
    rows = ["mosaic_id,patient_id,label,mask,coco"]
    for index, lesions in enumerate((0, 2)):
        written = write_synthetic(
            make_spec(300, 300, seed=10 + index, lesions=lesions), tmp_path / f"m{index}.tif"
        )
        detect_mosaic(
            open_mosaic(tmp_path / f"m{index}.tif"), model, tmp_path / "outputs" / f"m{index}.rcm"
        )
        label = "malignant" if lesions else "benign"
        rows.append(f"m{index},p{index},{label},{written['mask']},{written['boxes']}")
    (tmp_path / "truth.csv").write_text("\n".join(rows) + "\n")
    code = main(
        [
            *("evaluate", str(tmp_path / "outputs"), "--truth", str(tmp_path / "truth.csv")),
            *("--out", str(tmp_path / "report"), "--bootstrap", "20"),
        ]
    )
    assert code == 0
    metrics = json.loads((tmp_path / "report" / "metrics.json").read_text())
    assert metrics["tile_level"]["tiles"] == 0  # no tile classifier here
    assert 0 <= metrics["segmentation"]["pooled"]["dice"] <= 1
    assert "AP" in metrics["detection"]


def test_an_object_no_window_holds_whole_comes_out_once(tmp_path: Path) -> None:
    """A 105 x 30 px lesion cut by 128 px windows with 32 px overlap: its two pieces
    share only the overlap strip (box intersection over the smaller piece 0.47)."""
    image = np.zeros((288, 288), np.uint8)
    image[50:80, 60:165] = 255  # windows [0, 128), [96, 224), [192, 320): cut at 128 and 96
    image[200:220, 40:270] = 255  # three windows wide
    image[90:135, 185:230] = 255  # on the corner of four windows
    path = write_tiff(tmp_path / "long.tif", image)
    meta = ModelMeta(**{**BLOB_META.__dict__, "tile_px": 128})
    model = LoadedModel(Blobs(), meta, "sha256:test", "memory")
    options = WindowOptions(window_px=128, overlap=0.25, tissue="all")
    detect_mosaic(open_mosaic(path), model, tmp_path / "out", options=options)
    found = json.loads((tmp_path / "out" / "instances.json").read_text())
    expected = [[60, 50, 105, 30], [40, 200, 230, 20], [185, 90, 45, 45]]
    assert sorted(d["bbox"] for d in found) == sorted(expected)
    assert sorted(d["area"] for d in found) == sorted(w * h for _, _, w, h in expected)


def detect_crowd(module: nn.Module, windows: torch.Tensor) -> list[WindowDetections]:
    """A box-only detector that returns 100 overlapping boxes per window, as after its NMS."""
    shift = torch.arange(100, dtype=torch.float32)[:, None] * torch.tensor([0.25, 0.0, 0.25, 0.0])
    boxes = torch.tensor([10.0, 20.0, 40.0, 60.0]) + shift
    scores = torch.linspace(0.99, 0.5, 100)
    labels = torch.zeros(100, dtype=torch.int64)
    return [WindowDetections(boxes, scores, labels) for _ in windows]


if "test-crowd" not in WINDOW_MODELS:
    register_window_model(
        WindowFamily("test-crowd", "detector", lambda **_: Blobs(), detect=detect_crowd)
    )


def test_one_windows_detections_are_kept_as_the_model_returned_them(tmp_path: Path) -> None:
    path = write_tiff(tmp_path / "one.tif", np.full((128, 128), 200, np.uint8))
    meta = ModelMeta(**{**BLOB_META.__dict__, "architecture": "test-crowd", "tile_px": 128})
    model = LoadedModel(Blobs(), meta, "sha256:test", "memory")
    result = detect_mosaic(open_mosaic(path), model, tmp_path / "out")
    found = json.loads((tmp_path / "out" / "instances.json").read_text())
    assert result.run == 1 and result.instances == len(found) == 100
    assert sorted(d["bbox"][0] for d in found) == [10 + 0.25 * i for i in range(100)]
