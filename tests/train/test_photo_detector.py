"""Training a photo detector on tiny drawn photographs: coloured discs on skin, with boxes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from rcm.cli.main import main
from rcm.data import PhotoBox, PhotoDataset, PhotoRecord, read_photo_source, write_coco
from rcm.errors import InputError
from rcm.models import ModelStore, Task, load_model
from rcm.train import AugmentConfig, PhotoConfig, load_config
from rcm.train._augment import augment_photo_boxes
from rcm.train._photo_boxes import BoxExample, PhotoBoxes, PhotoBoxInputs, collate_boxes
from rcm.train._photo_data import UnreadablePhoto
from rcm.train._photo_run import photo_task, training_photos
from tests.train.photo_sets import CATEGORIES, write_photo_set
from tests.train.resume import train_straight_and_resumed

# Small enough to train in seconds on a CPU: ResNet-18 FPN, photos at their own 64 px, few RoIs.
DETECTOR = {
    "architecture": "fasterrcnn",
    "settings": {"backbone": "resnet18", "rois_per_image": 64},
}


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_photo_set(tmp_path_factory.mktemp("photos"))


def write_config(folder: Path, photos: Path, **sections: dict) -> Path:
    config = {
        "task": "detector",
        "data": {
            "coco": str(photos / "images" / "annotations.coco.json"),
            "split": str(photos / "split.csv"),
        },
        "model": DETECTOR,
        "photo": {"min_size": 64, "max_size": 96},
        "optim": {"epochs": 4, "batch_size": 4, "lr": 1e-3, "warmup_epochs": 0.5},
        "runtime": {"workers": 0, "device": "cpu"},
    }
    for name, values in sections.items():
        config[name] = {**config.get(name, {}), **values}
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_training_learns_and_the_model_finds_held_out_lesions_in_rcm_infer(
    photos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RCM_HOME", str(tmp_path / "home"))
    torch.set_num_threads(1)  # a small network: threads only contend on a shared machine
    config = write_config(tmp_path, photos)
    command = ["train", "detector", "--config", str(config), "--out", str(tmp_path / "run")]
    assert main([*command, "--name", "tiny-detector", "--no-progress"]) == 0
    assert [entry.name for entry in ModelStore().entries()] == ["tiny-detector"]

    model = load_model(tmp_path / "run" / "model.safetensors")
    meta = model.meta
    assert meta.task == Task.PHOTO_DETECTOR and meta.classes == CATEGORIES
    assert meta.architecture == "fasterrcnn" and meta.tile_px == 64 and meta.in_chans == 3
    assert meta.settings == {
        "backbone": "resnet18",
        "rois_per_image": 64,
        "min_size": 64,
        "max_size": 96,
    }
    counts = meta.provenance["box_counts"]
    assert counts["train"]["photos"] == 42 and counts["validation"]["photos"] == 12
    assert sum(counts["train"]["boxes_per_category"].values()) > 20
    log = (tmp_path / "run" / "log.csv").read_text().splitlines()
    assert "val_map" in log[0] and "val_ap50_melanoma" in log[0], log[0]

    # The held-out test photos, through rcm infer and rcm evaluate.
    coco = photos / "images" / "annotations.coco.json"
    infer = ["infer", str(coco), "--model", "tiny-detector", "--out", str(tmp_path / "test")]
    assert main([*infer, "--device", "cpu", "--no-progress"]) == 0
    evaluate = ["evaluate", str(tmp_path / "test"), "--truth", str(coco)]
    split = ["--split", str(photos / "split.csv"), "--part", "test", "--bootstrap", "10"]
    assert main([*evaluate, *split, "--out", str(tmp_path / "eval")]) == 0
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    detection = metrics["detection"]
    assert detection["AP50"] > 0.5, detection


def test_resume_gives_the_weights_of_the_uninterrupted_run(photos: Path, tmp_path: Path) -> None:
    torch.set_num_threads(1)
    config = load_config(
        write_config(
            tmp_path,
            photos,
            optim={"epochs": 2, "batch_size": 2, "examples_per_epoch": 4, "accumulate": 2},
            augment={"flips": True},
        ),
        task="detector",
    )
    result = train_straight_and_resumed(config, tmp_path)
    assert result.state.epoch == 2


def test_a_flip_mirrors_the_boxes_and_colour_changes_leave_them() -> None:
    photo = torch.rand(3, 10, 20)
    boxes = torch.tensor([[2.0, 1.0, 5.0, 4.0], [0.0, 0.0, 20.0, 10.0]])
    photo[:, 1:4, 2:5] = 2.0  # a marked region inside the first box
    flips = AugmentConfig(flips=True, brightness=0.0, contrast=0.0)
    still = PhotoConfig(saturation=0.0, hue=0.0)
    results = {
        seed: augment_photo_boxes(photo, boxes, flips, still, torch.Generator().manual_seed(seed))
        for seed in range(8)
    }
    flipped = [out for out in results.values() if not torch.equal(out[1], boxes)]
    assert flipped and len(flipped) < len(results)  # about half the draws flip
    image, moved = flipped[0]
    assert moved.tolist() == [[15.0, 1.0, 18.0, 4.0], [0.0, 0.0, 20.0, 10.0]]
    x0, y0, x1, y1 = (int(v) for v in moved[0])
    assert (image[:, y0:y1, x0:x1] == 1.0).all()  # the mark moved with its box (clipped to 1)

    colours = AugmentConfig(flips=False, brightness=0.2, contrast=0.2)
    jitter = PhotoConfig(saturation=0.3, hue=0.1)
    image, kept = augment_photo_boxes(photo, boxes, colours, jitter, torch.Generator())
    assert torch.equal(kept, boxes) and not torch.equal(image, photo.clamp(0, 1))


def test_examples_carry_labels_and_crowd_flags_and_a_broken_photo_is_named(
    tmp_path: Path,
) -> None:
    Image.new("RGB", (30, 20), (200, 150, 120)).save(tmp_path / "a.png")
    (tmp_path / "broken.png").write_bytes(b"not a png")
    record = PhotoRecord(
        "a.png",
        30,
        20,
        3,
        "p1",
        None,
        None,
        (PhotoBox("angioma", 1, 2, 5, 6), PhotoBox("melanoma", 10, 4, 8, 8, crowd=True)),
    )
    boxes = PhotoBoxes.of(record, CATEGORIES)
    inputs = PhotoBoxInputs([tmp_path / "a.png", tmp_path / "broken.png"], [boxes, boxes])
    example = inputs[0]
    assert isinstance(example, BoxExample) and example.pixels.shape == (20, 30, 3)
    assert example.boxes.tolist() == [[1.0, 2.0, 6.0, 8.0], [10.0, 4.0, 18.0, 12.0]]
    assert example.labels.tolist() == [2, 0] and example.crowd.tolist() == [False, True]
    broken = inputs[1]
    assert isinstance(broken, UnreadablePhoto) and broken.path == str(tmp_path / "broken.png")
    assert collate_boxes([example, broken]) is broken
    batch = collate_boxes([example, example])
    assert not isinstance(batch, UnreadablePhoto) and len(batch.pixels) == 2


@pytest.mark.parametrize(
    ("sections", "message"),
    [
        ({"model": {"architecture": "maskrcnn"}}, "trains the photo detectors fasterrcnn"),
        ({"model": {"settings": {"min_size": 64}}}, "not min_size"),
        (
            {"model": {"architecture": "fcos", "settings": {"rois_per_image": 8}}},
            "rois_per_image is for fasterrcnn",
        ),
        ({"photo": {"positive": ["wart"]}}, "photo.positive names wart"),
    ],
)
def test_bad_configs_are_refused_before_training(
    photos: Path, tmp_path: Path, sections: dict, message: str
) -> None:
    config = load_config(write_config(tmp_path, photos, **sections), task="detector")
    with pytest.raises(InputError, match=message):
        photo_task(config, training_photos(config))


def test_validation_photos_without_boxes_are_refused(photos: Path, tmp_path: Path) -> None:
    source = read_photo_source(photos / "images" / "annotations.coco.json")
    validation = {f"P{patient:02d}" for patient in range(14, 18)}
    records = tuple(
        record if record.patient_id not in validation else _without_boxes(record)
        for record in source.dataset.images
    )
    coco = photos / "images" / "no-validation-boxes.coco.json"
    write_coco(PhotoDataset(CATEGORIES, records), coco)
    config = load_config(write_config(tmp_path, photos, data={"coco": str(coco)}), task="detector")
    with pytest.raises(InputError, match="the validation photos have no lesion boxes"):
        photo_task(config, training_photos(config))


def _without_boxes(record: PhotoRecord) -> PhotoRecord:
    return PhotoRecord(record.image, record.width, record.height, 3, record.patient_id, None, None)


def test_the_shipped_config_loads() -> None:
    path = Path(__file__).resolve().parents[2] / "configs" / "train-photo-detector.yaml"
    config = load_config(path, task="detector")
    assert config.task == Task.PHOTO_DETECTOR and config.model.architecture == "fasterrcnn"
    assert config.photo.min_size == 800 and config.photo.max_size == 1333
    assert config.photos is not None and np.isclose(config.model.mean[0], 0.485)


def test_crowd_boxes_are_no_training_targets(photos: Path, tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, photos), task="detector")
    task = photo_task(config, training_photos(config))
    pixels = torch.zeros(20, 30, 3, dtype=torch.uint8)
    batch = collate_boxes(
        [
            BoxExample(
                pixels,
                torch.tensor([[1.0, 2.0, 6.0, 8.0], [10.0, 4.0, 18.0, 12.0]]),
                torch.tensor([2, 0]),
                torch.tensor([False, True]),
            )
        ]
    )
    seen: list = []

    def network(images: list, targets: list) -> dict:
        seen.extend(targets)
        return {"loss": torch.tensor(1.0)}

    task.loss(network, batch, torch.Generator())  # type: ignore[arg-type]
    assert seen[0]["labels"].tolist() == [3]  # angioma, after Faster R-CNN's background class
    assert seen[0]["boxes"].shape == (1, 4)
