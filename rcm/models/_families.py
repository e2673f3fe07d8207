"""Detector and segmenter families behind one interface: build a network, run windows.

A family turns `ModelMeta` fields into a network and runs a batch of windows
through it. Detectors return `WindowDetections` per window whatever library
they come from (torchvision, Detectron2), so stitching never sees a backend;
segmenters return per-pixel class probabilities.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

from rcm.models._task import WINDOW_TASKS, Task

WindowTask = Literal["detector", "segmenter"]  # the window tasks' strings, for typed configs


@dataclass(frozen=True)
class WindowDetections:
    """Objects a detector found in one window, in that window's model-input pixels.

    Attributes:
        boxes: ``(k, 4)`` float ``[x0, y0, x1, y1]``.
        scores: ``(k,)`` confidence in [0, 1].
        labels: ``(k,)`` int64, 0-based index into the model's classes.
        masks: ``(k, h, w)`` float mask probabilities over the whole window, or None
            for box-only detectors.

    """

    boxes: torch.Tensor
    scores: torch.Tensor
    labels: torch.Tensor
    masks: torch.Tensor | None = None

    def __post_init__(self) -> None:
        count = len(self.boxes)
        if self.boxes.ndim != 2 or self.boxes.shape[1] != 4:
            raise ValueError(f"boxes must be (k, 4), got {tuple(self.boxes.shape)}")
        if len(self.scores) != count or len(self.labels) != count:
            raise ValueError("one score and one label per box")
        if self.masks is not None and (self.masks.ndim != 3 or len(self.masks) != count):
            raise ValueError(f"masks must be (k, h, w) with k={count}")


Detect = Callable[[nn.Module, torch.Tensor], list[WindowDetections]]
Segment = Callable[[nn.Module, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class WindowFamily:
    """A registered detector or segmenter architecture.

    Attributes:
        name: Architecture name used in model files and on the command line.
        task: `Task.DETECTOR` or `Task.SEGMENTER` (its string is converted).
        build: ``build(num_classes=, in_chans=, window_px=, **settings)`` -> network
            with random weights.
        detect: Detectors: normalised windows ``(n, c, h, w)`` -> one
            `WindowDetections` per window.
        segment: Segmenters: normalised windows -> class probabilities ``(n, C, h, w)``.
        configure: Sets run-time limits (least score, detections per window) on a
            built network; None when the family has none.

    """

    name: str
    task: Task
    build: Callable[..., nn.Module]
    detect: Detect | None = None
    segment: Segment | None = None
    configure: Callable[[nn.Module, float, int], None] | None = None

    def __post_init__(self) -> None:
        task = Task.parse(self.task)
        if task not in WINDOW_TASKS:
            raise ValueError(f"{self.name}: a window model is a detector or a segmenter")
        object.__setattr__(self, "task", task)
        if (task is Task.DETECTOR) != (self.detect is not None) or (task is Task.SEGMENTER) != (
            self.segment is not None
        ):
            raise ValueError(f"{self.name}: a detector needs detect, a segmenter segment")


WINDOW_MODELS: dict[str, WindowFamily] = {}


def register_window_model(family: WindowFamily) -> WindowFamily:
    """Add a detector or segmenter family under its name."""
    if family.name in WINDOW_MODELS:
        raise ValueError(f"window model {family.name!r} is already registered")
    WINDOW_MODELS[family.name] = family
    return family


def window_family(name: str, task: Task | WindowTask) -> WindowFamily:
    """The registered family `name` of the given task.

    Raises:
        ValueError: If no such family is registered.

    """
    task = Task.parse(task)
    family = WINDOW_MODELS.get(name)
    if family is None or family.task is not task:
        known = ", ".join(sorted(n for n, f in WINDOW_MODELS.items() if f.task == task))
        raise ValueError(f"unknown {task} architecture {name!r}: use one of {known}")
    return family


def settings_of(settings: dict[str, Any], allowed: tuple[str, ...], name: str) -> dict[str, Any]:
    """`settings` after checking it only names what family `name` understands."""
    unknown = sorted(set(settings) - set(allowed))
    if unknown:
        raise ValueError(f"{name} does not take the setting(s) {', '.join(unknown)}")
    return settings
