"""Box detectors for clinical photographs: torchvision Faster R-CNN, RetinaNet and FCOS.

Unlike mosaic windows, photographs come in every size, so these networks keep
torchvision's resize rule: the shorter side is scaled to ``min_size`` unless
the longer side would then pass ``max_size`` (then the longer side is
``max_size``). The resize is antialiased (a 4,000 px phone photo shrunk five
times aliases without it), and the network normalises unit-range RGB by the
model file's mean and std itself. Detections come back in each original
photo's pixels (torchvision's ``postprocess``).

Labels: the R-CNN has a background class 0, RetinaNet and FCOS do not; either
way `detect_photos` returns 0-based category indices (0 = the model's first
class), and `photo_label_offset` says what training targets add to them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.detection import (
    FCOS,
    RetinaNet,
    fcos_resnet50_fpn,
    retinanet_resnet50_fpn_v2,
)
from torchvision.models.detection.transform import GeneralizedRCNNTransform, resize_boxes
from torchvision.ops.feature_pyramid_network import LastLevelP6P7

from rcm.models._families import WindowDetections, settings_of
from rcm.models._meta import ModelMeta
from rcm.models._task import Task
from rcm.models._torchvision_detectors import DEFAULT_BACKBONE, resnet_fpn, torchvision_rcnn

PHOTO_DETECTORS = ("fasterrcnn", "retinanet", "fcos")
DEFAULT_MIN_SIZE, DEFAULT_MAX_SIZE = 800, 1333
DEFAULT_ROIS_PER_IMAGE = 512  # torchvision's box_batch_size_per_image
PHOTO_DETECTOR_SETTINGS = ("min_size", "max_size", "backbone", "rois_per_image")


@dataclass(frozen=True)
class DetectionLimits:
    """Inference limits of a photo detector: least score, boxes per photo, NMS IoU."""

    min_score: float
    max_detections: int
    nms_iou: float


# Torchvision's constructor defaults (box_score_thresh / score_thresh, detections
# per image, NMS IoU); a test checks them against freshly built networks.
PHOTO_DETECTOR_DEFAULTS = {
    "fasterrcnn": DetectionLimits(min_score=0.05, max_detections=100, nms_iou=0.5),
    "retinanet": DetectionLimits(min_score=0.05, max_detections=300, nms_iou=0.5),
    "fcos": DetectionLimits(min_score=0.2, max_detections=100, nms_iou=0.6),
}


@dataclass(frozen=True)
class PhotoDetectOptions:
    """Inference limits of a photo detector; None keeps torchvision's default.

    Torchvision's defaults (`PHOTO_DETECTOR_DEFAULTS`): Faster R-CNN and RetinaNet
    drop scores below 0.05 and FCOS below 0.2; Faster R-CNN and FCOS keep 100
    boxes per photo, RetinaNet 300; boxes of one category overlapping by more
    than IoU 0.5 (FCOS: 0.6) are suppressed.

    Attributes:
        min_score: Boxes scoring at or below this are dropped (0..1).
        max_detections: Most boxes kept per photo (at least 1).
        nms_iou: IoU above which the lower-scoring box of a category is suppressed (0..1].

    """

    min_score: float | None = None
    max_detections: int | None = None
    nms_iou: float | None = None

    def __post_init__(self) -> None:
        if self.min_score is not None and not 0 <= self.min_score <= 1:
            raise ValueError(f"min_score must be in [0, 1], got {self.min_score}")
        if self.max_detections is not None and (
            isinstance(self.max_detections, bool) or self.max_detections < 1
        ):
            raise ValueError(f"max_detections must be at least 1, got {self.max_detections}")
        if self.nms_iou is not None and not 0 < self.nms_iou <= 1:
            raise ValueError(f"nms_iou must be in (0, 1], got {self.nms_iou}")

    def resolved(self, architecture: str) -> DetectionLimits:
        """The limits in force for `architecture`: these options over torchvision's defaults."""
        base = PHOTO_DETECTOR_DEFAULTS[_architecture(architecture)]
        return DetectionLimits(
            min_score=base.min_score if self.min_score is None else self.min_score,
            max_detections=base.max_detections
            if self.max_detections is None
            else self.max_detections,
            nms_iou=base.nms_iou if self.nms_iou is None else self.nms_iou,
        )


class PhotoTransform(GeneralizedRCNNTransform):
    """Torchvision's resize rule (shorter side to min_size, longer at most max_size), antialiased.

    The size is rounded rather than floored, so the shorter side is exactly
    ``min_size`` whatever float rounding does to the scale.
    """

    def resize(
        self, image: torch.Tensor, target: dict[str, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor] | None]:
        height, width = image.shape[-2:]
        size = resized_size(height, width, int(self.min_size[-1]), int(self.max_size))
        if size != (height, width):
            image = F.interpolate(
                image[None], size=size, mode="bilinear", align_corners=False, antialias=True
            )[0]
        if target is not None:
            target = {**target, "boxes": resize_boxes(target["boxes"], (height, width), size)}
        return image, target


def resized_size(height: int, width: int, min_size: int, max_size: int) -> tuple[int, int]:
    """The ``(height, width)`` of a resized photo: shorter side `min_size`, longer <= `max_size`."""
    scale = min(min_size / min(height, width), max_size / max(height, width))
    return max(1, round(height * scale)), max(1, round(width * scale))


def build_photo_detector(meta: ModelMeta) -> nn.Module:
    """The randomly initialised photo detector `meta` describes (nothing downloaded).

    ``meta.settings``: ``backbone`` (``resnet50`` default: torchvision's R50-FPN
    v2 recipe for Faster R-CNN and RetinaNet, its R50-FPN FCOS; another
    torchvision ResNet name, e.g. ``resnet18``, a plain ResNet-FPN with the
    architecture's default heads), ``min_size`` (800) and ``max_size`` (1333);
    Faster R-CNN also ``rois_per_image`` (512), the proposals sampled per photo
    to train the box head: photos with a few lesions need far fewer, and on a
    CPU the box head's cost grows with it.

    Raises:
        ValueError: If `meta` is not an RGB photo detector of a known
            architecture, or its settings are unknown or out of range.

    """
    check_photo_detector(meta)
    architecture = _architecture(meta.architecture)
    min_size, max_size, backbone = photo_sizes(meta)
    classes = len(meta.classes)
    network: nn.Module
    rois = _rois_per_image(meta, architecture)
    if architecture == "fasterrcnn":
        network = torchvision_rcnn(masks=False, num_classes=classes, backbone=backbone)
        heads: Any = network.roi_heads
        heads.fg_bg_sampler.batch_size_per_image = rois
    else:
        network = _one_stage(architecture, classes, backbone)
    network.transform = PhotoTransform(
        min_size=min_size,
        max_size=max_size,
        image_mean=list(meta.mean),
        image_std=list(meta.std),
    )
    return network


def photo_sizes(meta: ModelMeta) -> tuple[int, int, str]:
    """``(min_size, max_size, backbone)`` of a photo detector's settings, checked."""
    settings = settings_of(dict(meta.settings), PHOTO_DETECTOR_SETTINGS, meta.architecture)
    min_size = settings.get("min_size", DEFAULT_MIN_SIZE)
    max_size = settings.get("max_size", DEFAULT_MAX_SIZE)
    backbone = settings.get("backbone", DEFAULT_BACKBONE)
    sizes_ok = all(isinstance(v, int) and not isinstance(v, bool) for v in (min_size, max_size))
    if not sizes_ok or not 8 <= min_size <= max_size <= 8192:
        raise ValueError(
            f"settings need integers 8 <= min_size <= max_size <= 8192, got {min_size}, {max_size}"
        )
    if not isinstance(backbone, str) or not backbone:
        raise ValueError(f"settings.backbone must be a ResNet name, got {backbone!r}")
    return min_size, max_size, backbone


def check_photo_detector(meta: ModelMeta) -> None:
    """Check what `build_photo_detector` checks, without building the network.

    Raises:
        ValueError: Naming the setting or field that is wrong.

    """
    if meta.task is not Task.PHOTO_DETECTOR:
        raise ValueError(f"a {meta.task} is not a photo detector")
    if meta.in_chans != 3:
        raise ValueError(f"photo detectors take RGB (in_chans 3), got in_chans {meta.in_chans}")
    photo_sizes(meta)
    _rois_per_image(meta, _architecture(meta.architecture))


def _rois_per_image(meta: ModelMeta, architecture: str) -> int:
    rois = meta.settings.get("rois_per_image")
    if rois is None:
        return DEFAULT_ROIS_PER_IMAGE
    if architecture != "fasterrcnn":
        raise ValueError(f"settings.rois_per_image is for fasterrcnn, not {architecture}")
    if not isinstance(rois, int) or isinstance(rois, bool) or not 1 <= rois <= 4096:
        raise ValueError(f"settings.rois_per_image must be an integer from 1 to 4096, got {rois!r}")
    return rois


def photo_label_offset(architecture: str) -> int:
    """What a network's labels add to 0-based category indices (1: R-CNN background)."""
    return 1 if _architecture(architecture) == "fasterrcnn" else 0


def _one_stage(architecture: str, num_classes: int, backbone: str) -> nn.Module:
    """RetinaNet or FCOS for `num_classes` categories (no background class)."""
    if backbone == DEFAULT_BACKBONE:
        builder = retinanet_resnet50_fpn_v2 if architecture == "retinanet" else fcos_resnet50_fpn
        return builder(weights=None, weights_backbone=None, num_classes=num_classes)
    # P3-P7 as torchvision's one-stage recipes take them: P6 and P7 from P5.
    features = resnet_fpn(backbone, returned_layers=[2, 3, 4], extra_blocks=LastLevelP6P7(256, 256))
    return (RetinaNet if architecture == "retinanet" else FCOS)(features, num_classes)


def configure_photo_detector(
    network: nn.Module, architecture: str, options: PhotoDetectOptions
) -> DetectionLimits:
    """Set the inference limits `options` give (torchvision's default for each None)."""
    limits = options.resolved(architecture)
    holder: Any = network.roi_heads if architecture == "fasterrcnn" else network
    holder.score_thresh = limits.min_score
    holder.nms_thresh = limits.nms_iou
    holder.detections_per_img = limits.max_detections
    return limits


def detect_photos(
    network: nn.Module,
    meta: ModelMeta,
    images: Sequence[torch.Tensor],
    options: PhotoDetectOptions | None = None,
) -> list[WindowDetections]:
    """Boxes found in each photo, in that photo's own pixels.

    Args:
        network: A photo detector (`build_photo_detector`, or a loaded model file).
        meta: Its metadata (architecture and classes).
        images: ``(3, H, W)`` float tensors in [0, 1], upright RGB, on the
            network's device; sizes may differ (the network resizes each).
        options: Score threshold, boxes per photo and NMS IoU; None: torchvision's.

    Returns:
        One `WindowDetections` per photo: boxes ``xyxy`` in the photo's pixels,
        scores, 0-based labels into ``meta.classes``, no masks.

    Raises:
        ValueError: If an image is not a ``(3, H, W)`` floating-point tensor.

    """
    for index, image in enumerate(images):
        if image.ndim != 3 or image.shape[0] != 3 or not image.is_floating_point():
            raise ValueError(
                f"image {index} must be a (3, H, W) float tensor, got "
                f"{tuple(image.shape)} {image.dtype}"
            )
    if not images:
        return []
    configure_photo_detector(network, meta.architecture, options or PhotoDetectOptions())
    offset = photo_label_offset(meta.architecture)
    network.eval()
    with torch.inference_mode():
        outputs = network(list(images))
    return [
        WindowDetections(
            boxes=out["boxes"].float(),
            scores=out["scores"].float(),
            labels=out["labels"] - offset,
        )
        for out in outputs
    ]


def _architecture(name: str) -> str:
    if name not in PHOTO_DETECTORS:
        raise ValueError(
            f"unknown photo-detector architecture {name!r}: use one of {', '.join(PHOTO_DETECTORS)}"
        )
    return name
