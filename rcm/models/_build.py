"""From a model file's metadata to a network, whatever its task."""

from __future__ import annotations

from torch import nn

import rcm.models._adapters  # noqa: F401  (a network of any built-in family can be built)
from rcm.models._families import WindowFamily, window_family
from rcm.models._meta import ModelMeta
from rcm.models._registry import build_classifier
from rcm.models._task import WINDOW_TASKS, Task


def family_of(meta: ModelMeta) -> WindowFamily:
    """The detector or segmenter family of a window model's metadata."""
    if meta.task not in WINDOW_TASKS:
        raise ValueError(f"a {meta.task} has no window family")
    return window_family(meta.architecture, meta.task)


def build_network(meta: ModelMeta) -> nn.Module:
    """The randomly initialised network `meta` describes, ready for its file's weights."""
    if meta.task is Task.PHOTO_DETECTOR:
        from rcm.models._photo_detectors import build_photo_detector

        return build_photo_detector(meta)
    if meta.task in (Task.CLASSIFIER, Task.PHOTO_CLASSIFIER):
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
