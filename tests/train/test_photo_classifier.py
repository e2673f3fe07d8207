"""Training a photo classifier on tiny drawn photographs: coloured discs on skin."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from rcm.cli.main import main
from rcm.data import (
    PhotoBox,
    PhotoRecord,
    fit_photo,
    read_photo_source,
    write_split,
    write_voc,
)
from rcm.errors import InputError
from rcm.metrics import auroc, fit_temperature
from rcm.models import ModelStore, Task, load_model, normalise, to_unit
from rcm.train import AugmentConfig, PhotoConfig, load_config, train
from rcm.train._augment import augment_photos, colour_jitter
from rcm.train._photo_data import (
    PhotoInputs,
    collate_photos,
    loss_weights,
    photo_targets,
    raise_unreadable,
    sampler_weights,
)
from rcm.train._photo_run import photo_data_record, training_photos
from tests.train.photo_sets import CATEGORIES, PARTS, split_of, write_photo_set
from tests.train.resume import train_straight_and_resumed


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_photo_set(tmp_path_factory.mktemp("photos"))


def write_config(
    folder: Path, photos: Path, task: str = "photo-classifier", **sections: dict
) -> Path:
    config = {
        "task": task,
        "data": {
            "coco": str(photos / "images" / "annotations.coco.json"),
            "split": str(photos / "split.csv"),
        },
        "model": {"architecture": "resnet10t"},
        "photo": {"input_px": 48},
        "optim": {"epochs": 2, "batch_size": 16, "lr": 1e-3, "examples_per_epoch": 48},
        "runtime": {"workers": 0, "device": "cpu"},
    }
    for name, values in sections.items():
        config[name] = {**config.get(name, {}), **values}
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def logits_of(model, source, records: tuple[PhotoRecord, ...]) -> np.ndarray:
    """The trained network's logits, fed as training feeds it (fit_photo, to_unit, normalise)."""
    from rcm.data import read_photo

    squares = [
        fit_photo(read_photo(source.image_path(r)).rgb, model.meta.tile_px, "centre")
        for r in records
    ]
    x = to_unit(torch.from_numpy(np.stack(squares)), 3)
    with torch.inference_mode():
        return model.module(normalise(x, model.meta)).numpy()


def test_training_learns_beats_chance_and_stores_a_temperature(
    photos: Path, tmp_path: Path
) -> None:
    config = load_config(write_config(tmp_path, photos))
    assert config.model.in_chans == 3 and config.model.mean == (0.485, 0.456, 0.406)
    result, _ = train(config, tmp_path / "run", progress=False)

    history = result.state.history
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert "val_macro_auroc" in history[0] and "val_loss" in history[0]
    model = load_model(result.model_path)
    meta = model.meta
    assert meta.task == Task.PHOTO_CLASSIFIER and meta.classes == CATEGORIES
    assert meta.positive == CATEGORIES and meta.in_chans == 3 and meta.tile_px == 48
    assert meta.settings == {"fit": "centre", "labels": "multi"} and meta.um_per_px is None
    record = meta.provenance["photos"]
    assert record["format"] == "coco" and record["checksum"].startswith("sha256:")
    assert meta.provenance["split"]["validation"][0] == "P14/photo0.jpg"
    assert record["photos"] == 90 and record["categories"] == list(CATEGORIES)
    assert sum(meta.provenance["label_counts"]["train"]["per_category"].values()) > 0

    source = read_photo_source(photos / "images" / "annotations.coco.json")
    by_part = {r.image: r for r in source.dataset.images}
    test = tuple(r for name, r in by_part.items() if int(name[1:3]) in PARTS["test"])
    logits = logits_of(model, source, test)
    truth = photo_targets(test, CATEGORIES, PhotoConfig()).multi
    scores = 1 / (1 + np.exp(-logits))
    held_out = np.mean([auroc(truth[:, c] > 0, scores[:, c]) for c in range(3)])
    assert held_out > 0.8, held_out

    # The stored temperature is the one fitted on the best epoch's validation logits.
    calibration = meta.calibrated
    assert calibration is not None and calibration.method == "temperature"
    validation = tuple(by_part[i] for i in meta.provenance["split"]["validation"])
    valid_logits = logits_of(model, source, validation)
    refit = fit_temperature(
        valid_logits, photo_targets(validation, CATEGORIES, PhotoConfig()).multi, multi_label=True
    )
    assert calibration.cases == len(validation) == 12
    assert calibration.temperature == pytest.approx(refit.temperature, rel=1e-3)
    assert abs(calibration.temperature - 1) > 1e-3
    calibrated = 1 / (1 + np.exp(-calibration.scale_logits(logits)))
    assert not np.allclose(calibrated, scores, atol=1e-4)
    assert np.array_equal(np.argsort(calibrated, axis=0), np.argsort(scores, axis=0))


def test_resume_gives_the_weights_and_calibration_of_the_uninterrupted_run(
    photos: Path, tmp_path: Path
) -> None:
    config = load_config(
        write_config(
            tmp_path,
            photos,
            model={"architecture": "test_efficientnet"},  # timm's tiniest EfficientNet
            photo={"input_px": 32},
            optim={"epochs": 2, "batch_size": 8, "examples_per_epoch": 16, "accumulate": 2},
        )
    )
    result = train_straight_and_resumed(config, tmp_path)
    assert result.state.epoch == 2
    metas = [
        load_model(tmp_path / run / "model.safetensors").meta for run in ("straight", "resumed")
    ]
    assert metas[0].calibration == metas[1].calibration is not None
    last = [
        torch.load(tmp_path / run / "checkpoints/last.pt", weights_only=True)
        for run in ("straight", "resumed")
    ]
    assert all(torch.equal(last[0]["model"][k], last[1]["model"][k]) for k in last[0]["model"])


def _record(name: str, *boxes: tuple[str, float]) -> PhotoRecord:
    """A 100 x 100 photo with square boxes of the given categories and sides."""
    shapes = [PhotoBox(category, 0.0, 0.0, float(side), float(side)) for category, side in boxes]
    return PhotoRecord(name, 100, 100, 3, "P1", None, None, shapes)


RECORDS = (
    _record("a.jpg", ("naevus", 30), ("melanoma", 5)),
    _record("b.jpg", ("angioma", 10), ("naevus", 40)),
    _record("c.jpg"),
    _record("d.jpg", ("angioma", 20)),
)


def test_single_label_rules() -> None:
    severity = photo_targets(RECORDS, CATEGORIES, PhotoConfig(labels="single"))
    assert [r.image for r in severity.records] == ["a.jpg", "b.jpg", "d.jpg"]
    assert severity.single is not None and severity.single.tolist() == [0, 1, 2]
    assert severity.left_out == ("c.jpg",)
    assert severity.counts(CATEGORIES) == {
        "photos": 3,
        "per_category": {"melanoma": 1, "naevus": 1, "angioma": 1},
        "without_boxes": 0,
        "left_out": 1,
    }
    ranked = PhotoConfig(labels="single", severity=("angioma", "melanoma"))
    assert photo_targets(RECORDS, CATEGORIES, ranked).targets.tolist() == [0, 2, 2]
    largest = PhotoConfig(labels="single", single_rule="largest")
    assert photo_targets(RECORDS, CATEGORIES, largest).targets.tolist() == [1, 1, 2]
    multi = photo_targets(RECORDS, CATEGORIES, PhotoConfig())
    assert multi.single is None and len(multi.records) == 4
    assert multi.targets.tolist() == [[1, 1, 0], [0, 1, 1], [0, 0, 0], [0, 0, 1]]


def test_sampler_weights_are_mean_inverse_frequencies() -> None:
    records = (
        _record("a.jpg", ("melanoma", 5)),
        _record("b.jpg", ("melanoma", 5)),
        _record("c.jpg", ("melanoma", 5)),
        _record("d.jpg", ("naevus", 5)),
        _record("e.jpg", ("melanoma", 5), ("naevus", 5)),
        _record("f.jpg"),
    )
    multi = photo_targets(records, CATEGORIES, PhotoConfig())
    # melanoma in 4 photos, naevus in 2, angioma in none, one photo without boxes.
    assert sampler_weights(multi.multi) == pytest.approx([0.25, 0.25, 0.25, 0.5, 0.375, 1.0])
    assert loss_weights(multi).tolist() == pytest.approx([0.5, 2.0, 1.0])
    single = photo_targets(records, CATEGORIES, PhotoConfig(labels="single"))
    weights = sampler_weights(single.multi)  # every category drawn equally often
    drawn = np.random.default_rng(0).choice(5, 20000, p=weights / weights.sum())
    shares = np.bincount(single.single[drawn], minlength=3) / len(drawn)
    assert shares[:2] == pytest.approx([0.5, 0.5], abs=0.02) and shares[2] == 0
    assert loss_weights(single).tolist() == pytest.approx([5 / 12, 5 / 3, 1.0])


def test_photo_augmentation_flips_and_shifts_colour_but_keeps_grey_grey() -> None:
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(6, 3, 8, 8)
    none = AugmentConfig(flips=False, brightness=0, contrast=0)
    still = augment_photos(x, none, PhotoConfig(saturation=0, hue=0), generator)
    assert torch.allclose(still, x, atol=1e-6)
    grey = torch.rand(4, 1, 8, 8).expand(-1, 3, -1, -1)
    shifted = colour_jitter(grey, 0.5, 0.5, torch.Generator().manual_seed(1))
    assert torch.allclose(shifted, grey, atol=1e-5)  # hue and saturation leave grey alone
    coloured = colour_jitter(x * 0.5 + 0.25, 0.0, 0.25, torch.Generator().manual_seed(1))
    assert (coloured - (x * 0.5 + 0.25)).abs().max() > 0.05
    flipped = augment_photos(
        x, AugmentConfig(brightness=0, contrast=0), PhotoConfig(saturation=0, hue=0), generator
    )
    for image, out in zip(x, flipped, strict=True):  # each photo as it was or mirrored, upright
        assert torch.allclose(out, image, atol=1e-6) or torch.allclose(
            out, image.flip(-1), atol=1e-6
        )


def test_a_damaged_photo_read_in_a_worker_is_named(photos: Path, tmp_path: Path) -> None:
    good = photos / "images" / "P00" / "photo0.jpg"
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not a jpeg")
    inputs = PhotoInputs([good, bad], np.zeros((2, 3), np.float32), 32, "centre")
    loader = torch.utils.data.DataLoader(
        inputs, batch_size=1, num_workers=1, collate_fn=collate_photos
    )
    batches = raise_unreadable(loader)
    first, _ = next(batches)
    assert first.shape == (1, 32, 32, 3) and first.dtype == torch.uint8
    with pytest.raises(InputError, match=r"bad\.jpg: not a readable image"):
        next(batches)


def test_config_and_data_errors_are_named(photos: Path, tmp_path: Path) -> None:
    path = write_config(tmp_path, photos)
    with pytest.raises(InputError, match=r"trains on photos: set data\.coco or data\.voc"):
        load_config(path, ["data.coco=null"])
    with pytest.raises(InputError, match=r"photo models take RGB: model\.in_chans must be 3"):
        load_config(path, ["model.in_chans=1", "model.mean=[0.5]", "model.std=[0.25]"])
    with pytest.raises(InputError, match=r"photo\.positive names eczema, not categories"):
        train(load_config(path, ["photo.positive=[eczema]"]), tmp_path / "a", progress=False)
    with pytest.raises(InputError, match=r"photo\.severity lists a category twice"):
        train(
            load_config(path, ["photo.severity=[naevus, naevus]"]), tmp_path / "b", progress=False
        )
    with pytest.raises(InputError, match=r"P00/photo1.jpg: image id 2: image file not found"):
        missing = photos / "images" / "P00" / "photo1.jpg"
        kept = missing.read_bytes()
        missing.unlink()
        try:
            train(load_config(path), tmp_path / "c", progress=False)
        finally:
            missing.write_bytes(kept)


def test_a_split_with_other_patients_is_refused(photos: Path, tmp_path: Path) -> None:
    source = read_photo_source(photos / "images" / "annotations.coco.json")
    records = list(source.dataset.images)
    moved = records[0]
    records[0] = PhotoRecord(
        moved.image, moved.width, moved.height, 3, "Q99", None, None, moved.boxes
    )
    part_of = {
        r.image: next(p for p, ids in PARTS.items() if int(r.image[1:3]) in ids) for r in records
    }
    write_split(split_of(records, part_of), tmp_path / "other.csv")
    config = load_config(
        write_config(tmp_path, photos, data={"split": str(tmp_path / "other.csv")})
    )
    with pytest.raises(InputError, match=r"P00/photo0\.jpg: Q99 in the split, P00 in"):
        training_photos(config)


def test_cli_trains_single_label_with_weights_into_the_store(
    photos: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("RCM_HOME", str(tmp_path / "home"))
    config = write_config(
        tmp_path,
        photos,
        optim={"epochs": 1, "examples_per_epoch": 32, "balance": "weights", "warmup_epochs": 0.5},
        photo={"input_px": 48, "labels": "single", "fit": "letterbox", "positive": ["melanoma"]},
        runtime={"precision": "bf16"},  # autocast, on the CPU too
        model={"architecture": "test_efficientnet"},
    )
    command = ["train", "photo-classifier", "--config", str(config), "--out", str(tmp_path / "r")]
    assert main([*command, "--name", "tiny-photo", "--no-progress"]) == 0
    assert [entry.name for entry in ModelStore().entries()] == ["tiny-photo"]
    meta = load_model(tmp_path / "r" / "model.safetensors").meta
    assert meta.settings == {"fit": "letterbox", "labels": "single"} and meta.tile_px == 48
    assert meta.positive == ("melanoma",) and meta.calibrated is not None
    left_out = meta.provenance["label_counts"]["train"]["left_out"]
    assert left_out == len(meta.provenance["left_out"]["train"]) > 0
    assert "rcm infer PHOTO|FOLDER|coco.json --model tiny-photo" in capsys.readouterr().out


def test_the_shipped_config_loads() -> None:
    path = Path(__file__).resolve().parents[2] / "configs" / "train-photo-classifier.yaml"
    config = load_config(path, task="photo-classifier")
    assert config.task == Task.PHOTO_CLASSIFIER and config.model.architecture == "efficientnet_b0"
    assert config.photo.input_px == 384 and config.photo.fit == "centre"
    assert config.photo.labels == "multi" and config.photos is not None


@pytest.mark.slow
def test_torchrun_two_processes_train_one_photo_classifier(photos: Path, tmp_path: Path) -> None:
    config = write_config(
        tmp_path, photos, optim={"epochs": 1, "examples_per_epoch": 33, "batch_size": 8}
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1", "RCM_HOME": str(tmp_path / "home")}
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2"]
    command += ["--standalone", "-m", "rcm", "train", "photo-classifier", "--config", str(config)]
    command += ["--out", str(tmp_path / "ddp"), "--no-progress", "--name", "ddp-photo"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert [e.name for e in ModelStore(tmp_path / "home" / "models").entries()] == ["ddp-photo"]
    meta = load_model(tmp_path / "ddp" / "model.safetensors").meta
    assert meta.provenance["epoch"] == 1 and meta.calibrated is not None


def test_a_voc_folder_is_read_and_recorded_with_its_annotations_checksum(
    photos: Path, tmp_path: Path
) -> None:
    source = read_photo_source(photos / "images" / "annotations.coco.json")
    write_voc(source.dataset, tmp_path / "voc")
    path = write_config(tmp_path, photos)
    voc = ["data.coco=null", f"data.voc={tmp_path / 'voc'}"]
    config = load_config(path, [*voc, f"data.images_root={photos / 'images'}"])
    found = training_photos(config)
    assert len(found.train) == 42 and found.source.images_root == photos / "images"
    record = photo_data_record(found.source)
    assert record["format"] == "voc" and record["boxes"] == source.dataset.n_boxes
    before = record["checksum"]
    (tmp_path / "voc" / "JPEGImages").mkdir(exist_ok=True)
    (tmp_path / "voc" / "JPEGImages" / "extra.jpg").write_bytes(b"pixels, not labels")
    assert photo_data_record(found.source)["checksum"] == before
