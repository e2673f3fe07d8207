"""Training detectors and segmenters on mosaic windows, on a tiny synthetic cohort."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml
from torchvision.models import resnet18

from rcm.cli.main import main
from rcm.data import LESION_CLASSES, make_spec, write_synthetic
from rcm.data._labelled import LabelledMosaic, read_labelled_mosaics
from rcm.data._splits import Split, write_split
from rcm.data._synthetic_cohort import write_synthetic_cohort
from rcm.data._window_targets import WindowTarget, window_target
from rcm.errors import InputError
from rcm.models import load_model
from rcm.models._torchvision_detectors import build_torchvision_detector
from rcm.train import TrainConfig, TrainState, load_config, train
from rcm.train._detector import DetectorTask
from rcm.train._init_weights import load_init
from rcm.train._mask_classes import lesion_categories
from rcm.train._segmenter import SegmenterTask
from rcm.train._windows import resize_target

# Even patients have lesions. P005 is a positive mosaic whose mask is missing.
SPLIT = {"train": ("P000", "P001", "P003", "P005"), "validation": ("P002",), "test": ("P004",)}
SEGMENTER = {
    "model": {
        "architecture": "fpn",
        "settings": {"encoder": "tu-test_resnet"},  # timm's tiny test network
        "tile_px": 64,
        "um_per_px": 1.0,  # twice the mosaics' 0.5: 128 px windows, resized to 64
    },
}
DETECTOR = {
    "model": {"architecture": "fasterrcnn", "settings": {"backbone": "resnet18"}, "tile_px": 128},
    "optim": {"lr": 3e-4},
}


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Five 384 px mosaics (three with lesions), a positive one without a mask, a split."""
    folder = tmp_path_factory.mktemp("windows")
    manifest = write_synthetic_cohort(folder, patients=5, mosaics_per_patient=1, size=384, seed=1)
    with manifest.open() as handle:
        rows = list(csv.DictReader(handle))
    rows.append({**rows[0], "mosaic_id": "P005-M0", "patient_id": "P005", "mask": "", "coco": ""})
    with manifest.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    mosaics = read_labelled_mosaics(manifest)
    part = {patient: name for name, patients in SPLIT.items() for patient in patients}
    split = Split(
        assignment={m.mosaic_id: part[m.patient_id] for m in mosaics},
        patient_of={m.mosaic_id: m.patient_id for m in mosaics},
        category_of={m.mosaic_id: m.category for m in mosaics},
    )
    write_split(split, folder / "split.csv")
    return folder


def write_config(folder: Path, cohort: Path, task: str, *parts: dict[str, Any]) -> Path:
    config: dict[str, Any] = {
        "task": task,
        "data": {"manifest": str(cohort / "manifest.csv"), "split": str(cohort / "split.csv")},
        "optim": {
            "epochs": 2,
            "batch_size": 2,
            "examples_per_epoch": 4,
            "lr": 1e-3,
            "warmup_epochs": 0,
        },
        "runtime": {"workers": 0, "device": "cpu"},
    }
    for part in parts:
        for name, values in part.items():
            config[name] = {**config.get(name, {}), **values}
    path = folder / f"{task}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def mosaics_of(cohort: Path, part: str) -> list[LabelledMosaic]:
    return [
        m for m in read_labelled_mosaics(cohort / "manifest.csv") if m.patient_id in SPLIT[part]
    ]


def stop_after_first(state: TrainState) -> None:
    if state.epoch == 1:
        raise KeyboardInterrupt


@pytest.fixture(scope="module")
def segmenter_run(cohort: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("segmenter")
    config = load_config(write_config(folder, cohort, "segmenter", SEGMENTER))
    train(config, folder / "run", progress=False)
    return folder


@pytest.fixture(scope="module")
def detector_run(cohort: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("detector")
    config = load_config(write_config(folder, cohort, "detector", DETECTOR))
    train(config, folder / "run", progress=False)
    return folder


def losses_on_a_fixed_batch(
    task: DetectorTask | SegmenterTask, steps: int, lr: float
) -> list[float]:
    torch.manual_seed(0)
    model = task.build().train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    positive = np.flatnonzero(task.train.windows.positive)[:2]
    batch = next(iter(task.batches(positive, torch.device("cpu"))))
    losses = []
    for _ in range(steps):
        loss = task.loss(model, batch, torch.Generator().manual_seed(0))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    return losses


def test_segmenter_loss_falls_on_a_fixed_batch(cohort: Path, tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, cohort, "segmenter", SEGMENTER))
    task = SegmenterTask(config, mosaics_of(cohort, "train"), mosaics_of(cohort, "validation"), 1.0)
    losses = losses_on_a_fixed_batch(task, steps=8, lr=1e-3)
    assert losses[-1] < 0.7 * losses[0], losses


def test_sampler_draws_lesion_windows_half_of_the_time(cohort: Path, tmp_path: Path) -> None:
    many = {"optim": {"examples_per_epoch": 2000}}
    config = load_config(write_config(tmp_path, cohort, "segmenter", SEGMENTER, many))
    task = SegmenterTask(config, mosaics_of(cohort, "train"), mosaics_of(cohort, "validation"), 1.0)
    positive = task.train.windows.positive
    assert positive.mean() < 0.4  # lesion windows are the minority...
    drawn = task.epoch_examples(3, np.random.default_rng(0))
    assert len(drawn) == 2000 and abs(positive[drawn].mean() - 0.5) < 0.05  # ...but half the draws
    assert task.train.epoch == 3  # the dataset's flips and turns follow the epoch
    weights = task.class_weights.numpy()
    assert weights[0] < 1 < weights[1:].min()  # the rare lesion classes weigh more


def test_detector_loss_is_the_sum_of_torchvision_losses(cohort: Path, tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, cohort, "detector", DETECTOR))
    task = DetectorTask(config, mosaics_of(cohort, "train"), mosaics_of(cohort, "validation"), 0.5)
    assert task.meta({}).classes == tuple(LESION_CLASSES.values())[: len(task.categories)]
    torch.manual_seed(0)
    model = task.build().train()
    positive = np.flatnonzero(task.train.windows.positive)[:2]
    batch = next(iter(task.batches(positive, torch.device("cpu"))))
    assert [len(target) for target in batch.targets] != [0, 0]
    loss = task.loss(model, batch, torch.Generator().manual_seed(0))
    loss.backward()
    assert loss.ndim == 0 and torch.isfinite(loss)
    assert model.backbone.body.conv1.weight.grad is not None


class Oracle(torch.nn.Module):
    """Answers each validation window with its own target, in the order validation reads them."""

    def __init__(self, targets: list[WindowTarget], detector: bool) -> None:
        super().__init__()
        self.targets, self.detector = list(targets), detector

    def forward(self, x: Any) -> Any:
        batch = [self.targets.pop(0) for _ in range(len(x))]
        if self.detector:
            return [
                {
                    "boxes": torch.from_numpy(t.boxes),
                    "labels": torch.from_numpy(t.labels),
                    "scores": torch.ones(len(t)),
                }
                for t in batch
            ]
        classes = torch.from_numpy(np.stack([t.classes for t in batch])).long()
        return 10.0 * torch.nn.functional.one_hot(classes, 4).permute(0, 3, 1, 2).float()


@pytest.mark.parametrize("task_name", ["detector", "segmenter"])
def test_validation_of_perfect_answers_scores_one(
    cohort: Path, tmp_path: Path, task_name: str
) -> None:
    detector = task_name == "detector"
    config = load_config(
        write_config(tmp_path, cohort, task_name, DETECTOR if detector else SEGMENTER)
    )
    kind = DetectorTask if detector else SegmenterTask
    task = kind(config, mosaics_of(cohort, "train"), mosaics_of(cohort, "validation"), None)
    targets = [t for batch in task._validation_batches(torch.device("cpu")) for t in batch.targets]
    assert len(task.categories) == 3 and sum(len(t) for t in targets) > 0
    metrics = task.validate(Oracle(targets, detector), torch.device("cpu"))
    if detector:
        assert metrics["map"] == metrics["map50"] == pytest.approx(1.0)
    else:
        assert metrics["dice"] == metrics["auroc"] == pytest.approx(1.0)


@pytest.mark.slow
def test_detector_loss_falls_on_a_fixed_batch(cohort: Path, tmp_path: Path) -> None:
    config = load_config(
        write_config(
            tmp_path, cohort, "detector", DETECTOR, {"model": {"architecture": "maskrcnn"}}
        )
    )
    task = DetectorTask(config, mosaics_of(cohort, "train"), mosaics_of(cohort, "validation"), 0.5)
    losses = losses_on_a_fixed_batch(task, steps=4, lr=3e-4)
    assert losses[-1] < 0.8 * losses[0], losses


def test_trained_segmenter_loads_and_runs_with_rcm_infer(segmenter_run: Path, cohort: Path) -> None:
    run = segmenter_run / "run"
    model = load_model(run / "model.safetensors")
    meta = model.meta
    assert meta.task == "segmenter" and meta.architecture == "fpn"
    assert meta.classes[0] == "background" and meta.positive == meta.classes[1:]
    assert (meta.tile_px, meta.um_per_px, meta.settings) == (64, 1.0, {"encoder": "tu-test_resnet"})
    provenance = meta.provenance
    assert provenance["window_rule"]["window_px"] == 128
    assert {"mosaic_id": "P005-M0", "reason": "positive mosaic without a lesion mask"} in (
        provenance["skipped_mosaics"]
    )
    history = [row for row in csv.DictReader((run / "log.csv").open())]
    assert {"val_dice", "val_auroc", "val_loss"} <= set(history[0])

    out = segmenter_run / "infer"
    mosaic = cohort / "P004-M0.zarr"
    weights = str(run / "model.safetensors")
    quiet = ["--no-progress", "--device", "cpu"]
    code = main(["infer", str(mosaic), "--weights", weights, "--out", str(out), *quiet])
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "ok" and summary["task"] == "segmenter"


def test_segmenter_resume_gives_the_same_weights(
    segmenter_run: Path, cohort: Path, tmp_path: Path
) -> None:
    config = load_config(segmenter_run / "segmenter.yaml")
    with pytest.raises(KeyboardInterrupt):
        train(config, tmp_path / "resumed", progress=False, on_epoch_end=stop_after_first)
    result, _ = train(config, tmp_path / "resumed", resume=True, progress=False)
    assert result.state.epoch == 2
    assert_same_last_weights(segmenter_run / "run", tmp_path / "resumed")


def assert_same_last_weights(first: Path, second: Path) -> None:
    straight, resumed = (
        torch.load(folder / "checkpoints/last.pt", weights_only=True)["model"]
        for folder in (first, second)
    )
    assert straight.keys() == resumed.keys()
    assert all(torch.equal(straight[key], resumed[key]) for key in straight)


@pytest.mark.slow
def test_trained_detector_loads_and_runs_with_rcm_infer(detector_run: Path, cohort: Path) -> None:
    run = detector_run / "run"
    meta = load_model(run / "model.safetensors").meta
    assert meta.task == "detector" and meta.architecture == "fasterrcnn"
    assert meta.classes == meta.positive and "background" not in meta.classes
    assert (meta.tile_px, meta.um_per_px) == (128, 0.5)
    history = [row for row in csv.DictReader((run / "log.csv").open())]
    assert {"val_map", "val_map50"} <= set(history[0])

    out = detector_run / "infer"
    weights = str(run / "model.safetensors")
    options = ["--out", str(out), "--no-progress", "--device", "cpu", "--min-score", "0.3"]
    code = main(["infer", str(cohort / "P004-M0.zarr"), "--weights", weights, *options])
    assert code == 0
    assert json.loads((out / "summary.json").read_text())["task"] == "detector"
    assert (out / "instances.json").is_file()


@pytest.mark.slow
def test_detector_resume_gives_the_same_weights(detector_run: Path, tmp_path: Path) -> None:
    config = load_config(detector_run / "detector.yaml")
    with pytest.raises(KeyboardInterrupt):
        train(config, tmp_path / "resumed", progress=False, on_epoch_end=stop_after_first)
    train(config, tmp_path / "resumed", resume=True, progress=False)
    assert_same_last_weights(detector_run / "run", tmp_path / "resumed")


def test_windows_without_lesions_are_refused(cohort: Path, tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, cohort, "detector", DETECTOR))
    negative = [m for m in mosaics_of(cohort, "train") if not m.positive]
    with pytest.raises(InputError, match="validation mosaics give no windows with lesion"):
        DetectorTask(config, mosaics_of(cohort, "train"), negative, 0.5)


def test_mosaics_of_two_pixel_sizes_are_refused(cohort: Path, tmp_path: Path) -> None:
    coarse = write_synthetic(make_spec(192, 192, seed=2, um_per_px=1.0), tmp_path / "coarse.zarr")
    other = LabelledMosaic("C", "C", "negative", False, coarse["mosaic"], coarse["mask"])
    config = load_config(write_config(tmp_path, cohort, "segmenter", SEGMENTER))
    with pytest.raises(InputError, match="one pixel size"):
        SegmenterTask(config, [*mosaics_of(cohort, "train"), other], [], 1.0)


@pytest.mark.parametrize(
    ("part", "message"),
    [
        ({"model": {"architecture": "efficientnet_b0"}}, "unknown segmenter architecture"),
        ({"model": {"tile_px": 100}}, "multiple of 32"),
    ],
)
def test_bad_segmenter_settings_fail_before_reading_data(
    cohort: Path, tmp_path: Path, part: dict[str, Any], message: str
) -> None:
    config = load_config(write_config(tmp_path, cohort, "segmenter", SEGMENTER, part))
    with pytest.raises(InputError, match=message):
        SegmenterTask(config, [], [], None)


@pytest.mark.parametrize("architecture", ["fpn", "detectron2"])
def test_detectors_rcm_cannot_train_are_refused(
    cohort: Path, tmp_path: Path, architecture: str
) -> None:
    part = {"model": {"architecture": architecture}}
    config = load_config(write_config(tmp_path, cohort, "detector", DETECTOR, part))
    with pytest.raises(InputError, match=r"model\.architecture"):
        DetectorTask(config, [], [], None)


def test_lesion_categories_follow_the_mask_values() -> None:
    pixels = np.zeros(256, np.int64)
    pixels[[0, 1, 3]] = 5
    assert lesion_categories(pixels, dict(LESION_CLASSES)) == tuple(LESION_CLASSES.values())
    assert lesion_categories(pixels, {}) == ("class_1", "class_2", "class_3")
    pixels[7] = 1
    assert lesion_categories(pixels, {7: "bcc"}) == (*(f"class_{v}" for v in range(1, 7)), "bcc")
    with pytest.raises(ValueError, match="no lesion"):
        lesion_categories(np.eye(256, dtype=np.int64)[0], {})
    with pytest.raises(ValueError, match="share a class name"):
        lesion_categories(pixels, {1: "bcc", 7: "bcc"})


def test_resized_targets_are_the_targets_of_the_resized_mask() -> None:
    classes = np.zeros((8, 8), np.uint8)
    classes[2:6, 4:8] = 2
    resized = resize_target(window_target(classes, min_area=1), 4, min_area=1)
    expected = np.zeros((4, 4), np.uint8)
    expected[1:3, 2:4] = 2
    np.testing.assert_array_equal(resized.classes, expected)
    np.testing.assert_array_equal(resized.boxes, [[2, 1, 4, 3]])
    assert isinstance(resized, WindowTarget) and resized.labels.tolist() == [2]


def test_initial_weights_fill_the_backbone(tmp_path: Path) -> None:
    imagenet = resnet18().state_dict()  # stands in for a downloaded ImageNet checkpoint
    torch.save(imagenet, tmp_path / "resnet18.pth")
    detector = build_torchvision_detector(
        masks=False, num_classes=2, in_chans=1, window_px=64, backbone="resnet18"
    )
    counts = load_init(detector, tmp_path / "resnet18.pth")
    assert counts["loaded"] > 100
    state = detector.state_dict()
    assert torch.equal(
        state["backbone.body.layer1.0.conv1.weight"], imagenet["layer1.0.conv1.weight"]
    )
    summed = imagenet["conv1.weight"].sum(dim=1, keepdim=True)
    assert torch.equal(state["backbone.body.conv1.weight"], summed)
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="cannot read initial weights"):
        load_init(detector, tmp_path / "junk.pth")


def test_configs_in_the_repository_load() -> None:
    root = Path(__file__).parents[2] / "configs"
    for name, task in (
        ("train-classifier.yaml", "classifier"),
        ("train-detector.yaml", "detector"),
        ("train-segmenter.yaml", "segmenter"),
    ):
        config = load_config(root / name)
        assert isinstance(config, TrainConfig) and config.task == task
