"""Torchvision Mask R-CNN and Faster R-CNN (R50-FPN v2) as window detectors.

These are the detectors that install everywhere. Two things differ from
torchvision's defaults: windows reach the network at the size they were cut
(torchvision rescales every image to 800-1333 px, which would silently enlarge
a 512 px window), and inputs arrive already normalised by the runner (so the
network's own normalisation is the identity, for any channel count).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torchvision.models.detection import (
    FasterRCNN,
    MaskRCNN,
    fasterrcnn_resnet50_fpn_v2,
    maskrcnn_resnet50_fpn_v2,
)
from torchvision.models.detection.backbone_utils import BackboneWithFPN, resnet_fpn_backbone
from torchvision.models.detection.generalized_rcnn import GeneralizedRCNN
from torchvision.models.detection.transform import GeneralizedRCNNTransform

from rcm.models._families import (
    WindowDetections,
    WindowFamily,
    register_window_model,
    settings_of,
)
from rcm.models._task import Task

DEFAULT_BACKBONE = "resnet50"


class WindowTransform(GeneralizedRCNNTransform):
    """Batches windows without resizing them (the runner already normalised them)."""

    def resize(
        self, image: torch.Tensor, target: dict[str, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor] | None]:
        return image, target


def resnet_fpn(backbone: str, **fpn: Any) -> BackboneWithFPN:
    """A randomly initialised torchvision ResNet-FPN, every layer trainable.

    Trainable BatchNorm rather than torchvision's frozen one: frozen statistics
    only make sense for pretrained weights, and these start random. `fpn` goes
    to `resnet_fpn_backbone` (``returned_layers``, ``extra_blocks``).
    """
    return resnet_fpn_backbone(
        backbone_name=backbone, weights=None, norm_layer=nn.BatchNorm2d, trainable_layers=5, **fpn
    )


def torchvision_rcnn(*, masks: bool, num_classes: int, backbone: str) -> GeneralizedRCNN:
    """Mask R-CNN (`masks`) or Faster R-CNN for `num_classes` categories plus background.

    ``resnet50`` builds torchvision's v2 recipe (R50-FPN v2); any other
    torchvision ResNet name (``resnet18``...) a plain ResNet-FPN (`resnet_fpn`).
    Randomly initialised, nothing downloaded; torchvision's own transform.
    """
    if backbone == DEFAULT_BACKBONE:
        builder = maskrcnn_resnet50_fpn_v2 if masks else fasterrcnn_resnet50_fpn_v2
        return builder(weights=None, weights_backbone=None, num_classes=num_classes + 1)
    return (MaskRCNN if masks else FasterRCNN)(resnet_fpn(backbone), num_classes=num_classes + 1)


def build_torchvision_detector(
    *,
    masks: bool,
    num_classes: int,
    in_chans: int,
    window_px: int,
    backbone: str = DEFAULT_BACKBONE,
) -> GeneralizedRCNN:
    """Mask R-CNN (`masks`) or Faster R-CNN on a ResNet-FPN for windows, randomly initialised.

    Args:
        masks: Mask R-CNN when True, Faster R-CNN otherwise.
        num_classes: Object categories, without background.
        in_chans: Input channels (1 for grayscale RCM, 3 for photographs).
        window_px: Window edge the detector sees.
        backbone: ``resnet50`` builds torchvision's v2 recipe (R50-FPN v2); any
            other torchvision ResNet name (``resnet18``...) a plain ResNet-FPN.

    """
    model = torchvision_rcnn(masks=masks, num_classes=num_classes, backbone=backbone)
    body = model.backbone.body
    if in_chans != 3:
        body.conv1 = nn.Conv2d(in_chans, 64, kernel_size=7, stride=2, padding=3, bias=False)
    model.transform = WindowTransform(
        min_size=window_px,
        max_size=window_px,
        image_mean=[0.0] * in_chans,
        image_std=[1.0] * in_chans,
    )
    return model


def detect(module: nn.Module, windows: torch.Tensor) -> list[WindowDetections]:
    """Run normalised windows ``(n, c, h, w)`` through a torchvision detector."""
    outputs = module(list(windows))
    return [
        WindowDetections(
            boxes=out["boxes"],
            scores=out["scores"],
            labels=out["labels"] - 1,  # torchvision reserves 0 for background
            masks=out["masks"][:, 0] if "masks" in out else None,
        )
        for out in outputs
    ]


def configure(module: nn.Module, min_score: float, max_detections: int) -> None:
    """Drop detections below `min_score`; keep at most `max_detections` per window."""
    heads: Any = module.roi_heads
    heads.score_thresh = min_score
    heads.detections_per_img = max_detections


def _family(name: str, masks: bool) -> WindowFamily:
    def build(*, num_classes: int, in_chans: int, window_px: int, **settings: str) -> nn.Module:
        chosen = settings_of(settings, ("backbone",), name)
        return build_torchvision_detector(
            masks=masks, num_classes=num_classes, in_chans=in_chans, window_px=window_px, **chosen
        )

    return WindowFamily(name, Task.DETECTOR, build, detect=detect, configure=configure)


register_window_model(_family("maskrcnn", masks=True))
register_window_model(_family("fasterrcnn", masks=False))
