"""From a model file's metadata to a network, whatever its task."""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch import nn

from rcm.models._families import WindowFamily, window_family
from rcm.models._registry import build_classifier

if TYPE_CHECKING:
    from rcm.models._modelfile import ModelMeta


def family_of(meta: ModelMeta) -> WindowFamily:
    """The detector or segmenter family of a window model's metadata."""
    if meta.task == "classifier":
        raise ValueError("classifiers have no window family")
    return window_family(meta.architecture, "detector" if meta.task == "detector" else "segmenter")


def build_network(meta: ModelMeta) -> nn.Module:
    """The randomly initialised network `meta` describes."""
    if meta.task == "classifier":
        return build_classifier(
            meta.architecture,
            num_classes=len(meta.classes),
            in_chans=meta.in_chans,
            tile_px=meta.tile_px,
        )
    return family_of(meta).build(
        num_classes=len(meta.classes),
        in_chans=meta.in_chans,
        window_px=meta.tile_px,
        **meta.settings,
    )
