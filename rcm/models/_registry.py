"""Classifier architectures by short name, built with timm."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import timm
from torch import nn


@dataclass(frozen=True)
class Architecture:
    """A registered classifier: its timm name and native input size."""

    alias: str
    timm_name: str
    tile_px: int


CLASSIFIERS: dict[str, Architecture] = {}


def register_classifier(alias: str, timm_name: str, tile_px: int = 224) -> Architecture:
    """Add a short name for a timm architecture."""
    if alias in CLASSIFIERS:
        raise ValueError(f"classifier {alias!r} is already registered")
    CLASSIFIERS[alias] = Architecture(alias, timm_name, tile_px)
    return CLASSIFIERS[alias]


register_classifier("swin", "swin_base_patch4_window7_224")
register_classifier("swin-t", "swin_tiny_patch4_window7_224")
register_classifier("efficientnet", "efficientnet_b0")
register_classifier("efficientnet-b1", "efficientnet_b1", 240)
register_classifier("efficientnet-b2", "efficientnet_b2", 260)
register_classifier("efficientnet-b3", "efficientnet_b3", 300)


def resolve_architecture(name: str) -> Architecture:
    """A registered alias, or any timm architecture by its own name.

    Raises:
        ValueError: If neither rcm nor timm knows the name.

    """
    if name in CLASSIFIERS:
        return CLASSIFIERS[name]
    if timm.is_model(name):
        size = timm.get_pretrained_cfg(name)
        input_size = getattr(size, "input_size", None) or (3, 224, 224)
        return Architecture(name, name, int(input_size[-1]))
    known = ", ".join(sorted(CLASSIFIERS))
    raise ValueError(f"unknown architecture {name!r}: use one of {known} or a timm model name")


def build_classifier(
    architecture: str,
    *,
    num_classes: int,
    in_chans: int = 1,
    tile_px: int | None = None,
    init: str | Path | None = None,
) -> nn.Module:
    """Build a classifier without downloading anything.

    Args:
        architecture: Registered alias (``swin``, ``efficientnet``...) or timm name.
        num_classes: Output classes.
        in_chans: 1 for grayscale RCM (timm folds pretrained RGB stems into one
            channel), 3 for RGB.
        tile_px: Input edge; transformers are built for it, CNNs take any size.
        init: Local pretrained weights (timm checkpoint, e.g. ImageNet); random
            initialisation when None.

    """
    arch = resolve_architecture(architecture)
    kwargs: dict[str, Any] = {"num_classes": num_classes, "in_chans": in_chans}
    if init is not None:
        kwargs.update(pretrained=True, pretrained_cfg_overlay={"file": str(init)})
    if tile_px is not None and tile_px != arch.tile_px:
        try:  # transformers fix their patch grid at construction
            return timm.create_model(arch.timm_name, img_size=tile_px, **kwargs)
        except TypeError:
            pass  # convolutional networks accept any input size
    model: nn.Module = timm.create_model(arch.timm_name, **kwargs)
    return model
