"""Photo detectors: building, the resize rule, detecting in photo pixels, labels, model files."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import pytest
import torch
from torchvision.models.detection import FCOS, FasterRCNN, RetinaNet

from rcm.errors import InputError
from rcm.models import (
    PHOTO_DETECTOR_DEFAULTS,
    PHOTO_DETECTORS,
    ModelMeta,
    PhotoDetectOptions,
    WindowDetections,
    build_network,
    build_photo_detector,
    detect_photos,
    load_model,
    photo_label_offset,
    read_meta,
    resized_size,
    save_model,
)

IMAGENET = {"mean": (0.485, 0.456, 0.406), "std": (0.229, 0.224, 0.225)}
CLASSES = ("melanoma", "naevus", "bcc")


def photo_meta(architecture: str, **settings: Any) -> ModelMeta:
    chosen = {"min_size": 64, "max_size": 128, "backbone": "resnet18", **settings}
    return ModelMeta(
        architecture=architecture,
        classes=CLASSES,
        positive=CLASSES[:1],
        in_chans=3,
        tile_px=chosen["min_size"],
        task="photo-detector",
        settings=chosen,
        **IMAGENET,
    )


def photos(seed: int) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return [
        torch.rand(3, 150, 100, generator=generator),
        torch.rand(3, 90, 240, generator=generator),
    ]


@pytest.mark.parametrize("architecture", PHOTO_DETECTORS)
def test_a_photo_detector_round_trips_through_its_model_file(
    architecture: str, tmp_path: Path
) -> None:
    meta = photo_meta(architecture)
    torch.manual_seed(0)
    network = build_network(meta)
    options = PhotoDetectOptions(min_score=0.0, max_detections=50)
    images = photos(1)
    before = detect_photos(network, meta, images, options)
    path = save_model(tmp_path / "photo.safetensors", network, meta)
    assert read_meta(path) == meta
    loaded = load_model(path)
    after = detect_photos(loaded.module, loaded.meta, images, options)
    assert len(before) == len(after) == 2
    for ours, theirs, image in zip(before, after, images, strict=True):
        assert isinstance(ours, WindowDetections) and ours.masks is None
        assert 0 < len(ours.boxes) <= 50
        torch.testing.assert_close(ours.boxes, theirs.boxes)
        torch.testing.assert_close(ours.scores, theirs.scores)
        assert torch.equal(ours.labels, theirs.labels)
        # Boxes in the photo's own pixels: inside it, and reaching past the
        # resized image (the 150 x 100 photo is seen at 96 x 64, the 90 x 240 one at 48 x 128).
        height, width = image.shape[1:]
        assert ours.boxes[:, 0::2].max() <= width and ours.boxes[:, 1::2].max() <= height
        assert ours.boxes[:, 0::2].max() > 0.8 * width or ours.boxes[:, 1::2].max() > 0.8 * height


@pytest.mark.parametrize("architecture", PHOTO_DETECTORS)
def test_labels_are_0_based_categories_for_every_architecture(architecture: str) -> None:
    meta = photo_meta(architecture)
    torch.manual_seed(0)
    network = build_network(meta).eval()
    found = detect_photos(network, meta, photos(2), PhotoDetectOptions(min_score=0.0))
    labels = torch.cat([f.labels for f in found])
    assert labels.dtype == torch.int64
    assert set(labels.tolist()) == {0, 1, 2}  # every category, none outside 0..2
    with torch.no_grad():
        raw = torch.cat([out["labels"] for out in network(photos(2))])
    assert torch.equal(labels, raw - photo_label_offset(architecture))


def test_photos_are_resized_by_the_shorter_side_within_max_size() -> None:
    assert resized_size(300, 200, 64, 1333) == (96, 64)
    assert resized_size(200, 300, 800, 1333) == (800, 1200)
    assert resized_size(100, 1000, 64, 320) == (32, 320)  # the longer side caps it
    assert resized_size(3000, 4000, 800, 1333) == (800, 1067)
    network = build_photo_detector(photo_meta("fasterrcnn", min_size=64, max_size=80))
    transform = network.transform.train()
    boxes = torch.tensor([[10.0, 20.0, 110.0, 220.0]])
    batch, targets = transform(
        [torch.rand(3, 300, 200)], [{"boxes": boxes.clone(), "labels": torch.tensor([1])}]
    )
    assert batch.image_sizes == [(80, 53)]  # 64 would make the longer side 96 > 80
    scale = torch.tensor([53 / 200, 80 / 300, 53 / 200, 80 / 300])
    torch.testing.assert_close(targets[0]["boxes"], boxes * scale)
    found = [{"boxes": targets[0]["boxes"]}]  # as if detected where the target was
    back = transform.eval().postprocess(found, batch.image_sizes, [(300, 200)])
    torch.testing.assert_close(back[0]["boxes"], boxes)


def test_the_network_normalises_by_the_model_files_mean_and_std() -> None:
    network = build_photo_detector(photo_meta("fcos"))
    grey = torch.full((3, 64, 64), 0.5)
    batch, _ = network.transform.eval()([grey])
    expected = (0.5 - torch.tensor(IMAGENET["mean"])) / torch.tensor(IMAGENET["std"])
    torch.testing.assert_close(batch.tensors[0, :, 10, 10], expected)


def test_detection_limits_default_to_torchvisions_and_can_be_set() -> None:
    constructors = {"fasterrcnn": FasterRCNN, "retinanet": RetinaNet, "fcos": FCOS}
    names = {
        "fasterrcnn": ("box_score_thresh", "box_detections_per_img", "box_nms_thresh"),
        "retinanet": ("score_thresh", "detections_per_img", "nms_thresh"),
        "fcos": ("score_thresh", "detections_per_img", "nms_thresh"),
    }
    for architecture, constructor in constructors.items():
        parameters = inspect.signature(constructor.__init__).parameters
        score, count, iou = (parameters[name].default for name in names[architecture])
        limits = PhotoDetectOptions().resolved(architecture)
        assert (limits.min_score, limits.max_detections, limits.nms_iou) == (score, count, iou)
        assert PHOTO_DETECTOR_DEFAULTS[architecture] == limits
    meta = photo_meta("retinanet")
    network = build_network(meta)
    found = detect_photos(
        network, meta, photos(3), PhotoDetectOptions(min_score=0.0, max_detections=7)
    )
    assert [len(f.boxes) for f in found] == [7, 7]
    assert network.nms_thresh == 0.5  # None kept torchvision's NMS IoU
    found = detect_photos(network, meta, photos(3), PhotoDetectOptions(min_score=0.999))
    assert all(len(f.boxes) == 0 and f.boxes.shape == (0, 4) for f in found)


def test_bad_images_options_and_models_are_refused(tmp_path: Path) -> None:
    meta = photo_meta("fasterrcnn")
    network = build_network(meta)
    assert detect_photos(network, meta, []) == []
    with pytest.raises(ValueError, match=r"image 0 must be a \(3, H, W\) float tensor"):
        detect_photos(network, meta, [torch.zeros(64, 64, 3)])
    with pytest.raises(ValueError, match="float tensor"):
        detect_photos(network, meta, [torch.zeros(3, 64, 64, dtype=torch.uint8)])
    for bad in ({"min_score": 1.5}, {"max_detections": 0}, {"nms_iou": 0.0}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            PhotoDetectOptions(**bad)
    with pytest.raises(ValueError, match="unknown photo-detector architecture 'maskrcnn'"):
        build_photo_detector(photo_meta("maskrcnn"))
    with pytest.raises(ValueError, match="does not take the setting"):
        build_photo_detector(photo_meta("fcos", encoder="resnet18"))
    with pytest.raises(ValueError, match="min_size <= max_size"):
        build_photo_detector(photo_meta("fcos", min_size=256, max_size=128))
    gray = ModelMeta(architecture="fcos", classes=CLASSES, positive=CLASSES, task="photo-detector")
    with pytest.raises(ValueError, match="RGB"):
        build_photo_detector(gray)
    # A model file whose settings no network takes is refused on loading, naming the file.
    path = save_model(tmp_path / "bad.safetensors", network, photo_meta("fasterrcnn", size=3))
    with pytest.raises(InputError, match=r"bad\.safetensors.*does not take the setting"):
        load_model(path)


def test_faster_rcnn_samples_the_rois_per_image_its_settings_give() -> None:
    default = build_photo_detector(photo_meta("fasterrcnn"))
    assert default.roi_heads.fg_bg_sampler.batch_size_per_image == 512  # torchvision's
    fewer = build_photo_detector(photo_meta("fasterrcnn", rois_per_image=32))
    assert fewer.roi_heads.fg_bg_sampler.batch_size_per_image == 32
    for bad in (0, 2.5, True):
        with pytest.raises(ValueError, match="rois_per_image must be an integer"):
            build_photo_detector(photo_meta("fasterrcnn", rois_per_image=bad))
    with pytest.raises(ValueError, match="rois_per_image is for fasterrcnn"):
        build_photo_detector(photo_meta("retinanet", rois_per_image=32))
