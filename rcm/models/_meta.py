"""ModelMeta: what a model file says about its network, as plain checked data.

The JSON form is the ``rcm`` entry of a model file's header (`FORMAT`); this
module writes and reads it and imports no deep-learning library.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from rcm.models._task import Task

FORMAT = "rcm-model/1"


@dataclass(frozen=True)
class ModelMeta:
    """What a model needs to be rebuilt and fed correctly.

    Attributes:
        architecture: timm architecture name or registered alias for classifiers;
            ``maskrcnn``, ``fasterrcnn`` or ``detectron2`` for detectors; ``fpn`` or
            ``unet`` for segmenters.
        classes: Class names in output order. Detectors list object categories
            (no background); segmenters list every pixel class, background first.
        positive: Classes whose probabilities add up to the "suspicious" score.
        in_chans: Input channels (1 for grayscale RCM).
        tile_px: Input edge in pixels (the window edge for detectors and segmenters).
        um_per_px: Pixel size the model was trained at; None when unknown.
        mean: Per-channel mean subtracted from inputs scaled to [0, 1].
        std: Per-channel standard deviation inputs are divided by.
        task: Classifier (tile labels), detector (boxes, masks) or segmenter
            (per-pixel classes); a task's string is accepted and converted.
        settings: Architecture settings needed to rebuild the network (a detector's
            backbone, a segmenter's encoder, a Detectron2 config as YAML text).
        provenance: Free-form facts about training (data, split, config, versions).

    """

    architecture: str
    classes: tuple[str, ...]
    positive: tuple[str, ...]
    in_chans: int = 1
    tile_px: int = 224
    um_per_px: float | None = None
    mean: tuple[float, ...] = (0.5,)
    std: tuple[float, ...] = (0.25,)
    task: Task = Task.CLASSIFIER
    settings: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "task", Task.parse(self.task))
        least = 1 if self.task is Task.DETECTOR else 2
        if len(self.classes) < least or len(set(self.classes)) != len(self.classes):
            raise ValueError(
                f"a {self.task} needs {least} or more distinct classes, got {self.classes}"
            )
        unknown = set(self.positive) - set(self.classes)
        if not self.positive or unknown:
            raise ValueError(f"positive classes must be among {self.classes}, got {self.positive}")
        if self.in_chans not in (1, 3):
            raise ValueError(f"in_chans must be 1 or 3, got {self.in_chans}")
        if len(self.mean) != self.in_chans or len(self.std) != self.in_chans:
            raise ValueError("mean and std need one value per input channel")
        if self.tile_px <= 0:
            raise ValueError(f"tile_px must be positive, got {self.tile_px}")

    @property
    def positive_indices(self) -> tuple[int, ...]:
        return tuple(self.classes.index(name) for name in self.positive)

    def to_json(self) -> str:
        """The header entry of a model file (keys sorted, the task as its string)."""
        return json.dumps(
            {"format": FORMAT, **asdict(self), "task": self.task.value}, sort_keys=True
        )

    @classmethod
    def from_json(cls, text: str) -> ModelMeta:
        """Read `to_json` output back.

        Raises:
            ValueError: If the text is not an `FORMAT` description or breaks a rule.

        """
        data = json.loads(text)
        if data.pop("format", None) != FORMAT:
            raise ValueError(f"not an {FORMAT} model description")
        for key in ("classes", "positive", "mean", "std"):
            data[key] = tuple(data[key])
        return cls(**data)
