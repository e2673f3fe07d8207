"""Training configs: typed, validated, loaded from YAML with dotted command-line overrides.

One frozen dataclass per part (data, model, optimisation, augmentation, runtime);
`load_config` maps a YAML file onto them with `rcm.config`'s rules, naming the
file and the key of every problem (unknown keys are errors, so a typo never
falls back to a default).
``--set optim.lr=3e-4`` overrides one value; the resolved config is stored in
the trained model file and next to the training outputs.
"""

from __future__ import annotations

import dataclasses
import enum
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from rcm.config import ConfigError, apply_overrides, from_mapping, read_yaml
from rcm.data import PhotoFit
from rcm.errors import InputError, bad_input
from rcm.models import PHOTO_TASKS, Task

Balance = Literal["sampler", "weights", "none"]
Precision = Literal["auto", "bf16", "fp16", "fp32"]


@dataclass(frozen=True)
class DataConfig:
    """Where the labelled data is and how it is cut into training examples.

    Mosaic tasks read a training manifest; photo tasks read a photo dataset
    (``coco`` or ``voc``, with ``images_root``) instead.

    Attributes:
        manifest: Training manifest CSV (see `rcm.data.read_labelled_mosaics`).
        split: Split CSV from ``rcm data split``; its ``train`` and ``validation``
            items are used (``test`` is never read by training).
        coco: Photo tasks: a COCO instances file (``rcm data photos`` writes one).
        voc: Photo tasks: a Pascal VOC folder (holding ``Annotations/``).
        images_root: Photo tasks: the folder image paths are relative to
            (default: the COCO file's folder, or the VOC folder).
        positive_at: Lesion share at or above which a tile is lesion.
        negative_below: Lesion share below which a tile is benign (in between: left out).
        min_tissue: Tiles or windows with less tissue are not used.
        overlap: Overlap of neighbouring tiles or windows.
        min_area: Detector objects smaller than this many pixels are dropped.
        class_names: Names of lesion mask values for detectors and segmenters, e.g.
            ``{1: bcc, 2: scc}``; unnamed values use the masks' stored names or
            ``class_<value>``.

    """

    split: Path
    manifest: Path | None = None
    coco: Path | None = None
    voc: Path | None = None
    images_root: Path | None = None
    positive_at: float = 0.5
    negative_below: float = 0.1
    min_tissue: float = 0.25
    overlap: float = 0.0
    min_area: int = 16
    class_names: dict[Any, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelConfig:
    """The network to train.

    Attributes:
        architecture: Classifier alias or timm name; ``maskrcnn``/``fasterrcnn``;
            ``fpn``/``unet``.
        tile_px: Input edge (tile or window) in pixels.
        um_per_px: Pixel size the model works at; None uses the mosaics' own.
        in_chans: 1 for grayscale RCM, 3 for RGB.
        init: Local pretrained weights (e.g. ImageNet, timm format); None: random.
        settings: Architecture settings (a detector's backbone, a segmenter's encoder).
        mean: Normalisation mean per channel.
        std: Normalisation standard deviation per channel.

    """

    architecture: str = "efficientnet_b0"
    tile_px: int = 224
    um_per_px: float | None = None
    in_chans: int = 1
    init: Path | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    mean: tuple[float, ...] = (0.5,)
    std: tuple[float, ...] = (0.25,)


@dataclass(frozen=True)
class OptimConfig:
    """Optimisation: AdamW, a cosine schedule with linear warm-up, early stopping.

    Attributes:
        epochs: Most epochs to run.
        batch_size: Examples per forward pass (per process under torchrun).
        accumulate: Forward passes per optimiser step (gradient accumulation).
        lr: Peak learning rate.
        weight_decay: AdamW weight decay.
        warmup_epochs: Epochs of linear warm-up (fractions allowed).
        balance: ``sampler`` draws classes equally often, ``weights`` weights the
            loss by inverse class frequency, ``none`` does neither.
        examples_per_epoch: Examples drawn per epoch; None: the training set's size.
        patience: Epochs without improvement of the validation metric before stopping.
        min_delta: Smallest change that counts as an improvement.

    """

    epochs: int = 20
    batch_size: int = 32
    accumulate: int = 1
    lr: float = 1e-3
    weight_decay: float = 0.05
    warmup_epochs: float = 1.0
    balance: Balance = "sampler"
    examples_per_epoch: int | None = None
    patience: int = 5
    min_delta: float = 1e-4


@dataclass(frozen=True)
class AugmentConfig:
    """Augmentation suited to grayscale RCM (orientation carries no meaning).

    Attributes:
        flips: Random horizontal flips.
        rotate90: Random quarter turns.
        brightness: Largest added brightness (fraction of the range).
        contrast: Largest relative contrast change.
        scale: Largest relative zoom in (0 = none).

    """

    flips: bool = True
    rotate90: bool = True
    brightness: float = 0.1
    contrast: float = 0.15
    scale: float = 0.1


PhotoLabels = Literal["multi", "single"]
SingleLabelRule = Literal["severity", "largest"]


@dataclass(frozen=True)
class PhotoConfig:
    """How clinical photographs become a model's input and labels (photo tasks only).

    Attributes:
        input_px: Photo classifiers: the square input edge.
        fit: Photo classifiers: ``centre`` resizes the shorter side to `input_px`
            and crops the centre; ``letterbox`` resizes the longer side and pads.
        min_size: Photo detectors: the shorter side photos are resized to.
        max_size: Photo detectors: the longer side is kept at or below this.
        labels: Photo classifiers: ``multi`` (a sigmoid per category: an image
            holds every category of its boxes) or ``single`` (softmax, one
            category per image by `single_rule`).
        single_rule: ``severity`` takes the image's most severe category (first in
            `severity`), ``largest`` the category of its largest box.
        severity: Categories from most to least severe; default the category order.
        positive: Categories whose probabilities count as suspicious; default all.
        saturation: Largest relative saturation change (colour jitter).
        hue: Largest hue shift, as a fraction of the colour wheel.

    """

    input_px: int = 384
    fit: PhotoFit = "centre"
    min_size: int = 800
    max_size: int = 1333
    labels: PhotoLabels = "multi"
    single_rule: SingleLabelRule = "severity"
    severity: tuple[str, ...] = ()
    positive: tuple[str, ...] = ()
    saturation: float = 0.1
    hue: float = 0.02


@dataclass(frozen=True)
class RuntimeConfig:
    """Where and how training runs.

    Attributes:
        device: ``auto`` (CUDA when present), ``cpu`` or ``cuda[:n]``; under torchrun
            each process takes the GPU of its local rank.
        precision: ``auto`` is bf16 autocast on GPU and fp32 on CPU; ``fp16`` uses a
            gradient scaler.
        workers: DataLoader worker processes reading tiles.
        seed: Seed of every random choice; the same seed gives the same weights.
        deterministic: Ask PyTorch for deterministic kernels (slower on GPU).

    """

    device: str = "auto"
    precision: Precision = "auto"
    workers: int = 2
    seed: int = 0
    deterministic: bool = True


@dataclass(frozen=True)
class TrainConfig:
    """Everything `rcm train` needs; written with every trained model."""

    task: Task
    data: DataConfig
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    photo: PhotoConfig = field(default_factory=PhotoConfig)

    def __post_init__(self) -> None:
        if self.task == Task.DETECTOR and self.photos is not None:
            object.__setattr__(self, "task", Task.PHOTO_DETECTOR)  # a detector of photographs
        self._check_data()
        photo = self.photo
        checks = [
            (8 <= photo.input_px <= 8192, "photo.input_px must be from 8 to 8192"),
            (
                8 <= photo.min_size <= photo.max_size <= 8192,
                "need 8 <= photo.min_size <= photo.max_size <= 8192",
            ),
            (0 <= photo.saturation < 1, "photo.saturation must be in [0, 1)"),
            (0 <= photo.hue <= 0.5, "photo.hue must be in [0, 0.5]"),
            (self.optim.epochs >= 1, "optim.epochs must be at least 1"),
            (self.optim.batch_size >= 1, "optim.batch_size must be at least 1"),
            (self.optim.accumulate >= 1, "optim.accumulate must be at least 1"),
            (self.optim.lr > 0, "optim.lr must be positive"),
            (self.optim.warmup_epochs >= 0, "optim.warmup_epochs must not be negative"),
            (self.optim.patience >= 1, "optim.patience must be at least 1"),
            (self.model.tile_px >= 8, "model.tile_px must be at least 8"),
            (self.model.in_chans in (1, 3), "model.in_chans must be 1 or 3"),
            (self.runtime.workers >= 0, "runtime.workers must not be negative"),
            (
                0 < self.data.negative_below <= self.data.positive_at <= 1,
                "need 0 < data.negative_below <= data.positive_at <= 1",
            ),
            (0 <= self.augment.scale < 1, "augment.scale must be in [0, 1)"),
            (0 < self.data.min_tissue <= 1, "data.min_tissue must be in (0, 1]"),
            (0 <= self.data.overlap < 1, "data.overlap must be in [0, 1)"),
            (self.data.min_area >= 1, "data.min_area must be at least 1"),
            (
                self.model.um_per_px is None or self.model.um_per_px > 0,
                "model.um_per_px must be positive (or null: the mosaics' own)",
            ),
            (
                len(self.model.mean) == len(self.model.std) == self.model.in_chans,
                "model.mean and model.std need one value per input channel (model.in_chans)",
            ),
            (min(self.model.std, default=1) > 0, "model.std must be positive"),
            (
                self.optim.examples_per_epoch is None or self.optim.examples_per_epoch >= 1,
                "optim.examples_per_epoch must be at least 1 (or null)",
            ),
            (self.optim.weight_decay >= 0, "optim.weight_decay must not be negative"),
            (
                all(
                    isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 255
                    for v in self.data.class_names
                )
                and all(isinstance(n, str) and n for n in self.data.class_names.values()),
                "data.class_names maps mask values 1-255 to non-empty names",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)

    @property
    def manifest(self) -> Path:
        """The training manifest of a mosaic task (checked present on construction)."""
        if self.data.manifest is None:
            raise ValueError(f"a {self.task} has no training manifest")
        return self.data.manifest

    @property
    def photos(self) -> Path | None:
        """The photo dataset (COCO file or VOC folder), or None for mosaic data."""
        return self.data.coco or self.data.voc

    def _check_data(self) -> None:
        data = self.data
        if data.coco is not None and data.voc is not None:
            raise ValueError("give data.coco or data.voc, not both")
        if self.task in PHOTO_TASKS:
            if self.photos is None:
                raise ValueError(f"a {self.task} trains on photos: set data.coco or data.voc")
            if data.manifest is not None:
                raise ValueError(f"a {self.task} reads photos, not data.manifest")
            if self.model.in_chans != 3:
                raise ValueError("photo models take RGB: model.in_chans must be 3")
        else:
            if self.photos is not None or data.images_root is not None:
                raise ValueError(f"a {self.task} trains on mosaics: data.coco/voc are for photos")
            if data.manifest is None:
                raise ValueError(f"a {self.task} trains on mosaics: set data.manifest")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (paths as strings)."""
        return _plain(dataclasses.asdict(self))


def load_config(
    path: str | os.PathLike[str],
    overrides: list[str] | None = None,
    *,
    paths: dict[str, str | os.PathLike[str]] | None = None,
    **fixed: Any,
) -> TrainConfig:
    """Read a YAML training config, apply ``key.sub=value`` overrides, validate.

    Relative paths in the file are relative to the file; in overrides, to the
    working directory. `paths` sets dotted keys to paths given by flags (``--init``),
    taken literally. `fixed` sets top-level keys (the task from the command line).
    The rules are `rcm.config`'s.

    Raises:
        InputError: Naming the file and the key, for unreadable YAML, unknown keys,
            values of the wrong type, or values out of range.

    """
    source = Path(path)
    raw = read_yaml(source)
    raw = {} if raw is None else raw
    if not isinstance(raw, dict):
        raise InputError(path, "a training config is a mapping of sections")
    with bad_input(path, kinds=(ConfigError,)):
        raw = dict(apply_overrides(TrainConfig, raw, overrides or []))
        for dotted, value in (paths or {}).items():
            section, key = dotted.split(".")
            part = raw.get(section) or {}
            if isinstance(part, dict):  # else refused as "must be a mapping" below
                raw[section] = {**part, key: Path(value)}
        for key, value in fixed.items():
            if key == "task" and raw.get(key) == Task.PHOTO_DETECTOR and value == Task.DETECTOR:
                continue  # `rcm train detector` with a photo detector's config
            if raw.get(key) not in (None, value):
                raise InputError(
                    path, f"config says {key}: {raw[key]} but the command says {value}"
                )
            raw[key] = value
        return from_mapping(TrainConfig, _photo_defaults(raw), base=source.parent)


# Photographs are RGB; ImageNet's statistics are the usual normalisation for them.
PHOTO_MODEL_DEFAULTS = {
    "in_chans": 3,
    "mean": [0.485, 0.456, 0.406],
    "std": [0.229, 0.224, 0.225],
}


def _photo_defaults(raw: dict[str, Any]) -> dict[str, Any]:
    """A photo config's model section defaults to RGB with ImageNet normalisation."""
    data = raw.get("data")
    photo_task = raw.get("task") in PHOTO_TASKS
    photo_data = isinstance(data, dict) and (data.get("coco") or data.get("voc"))
    model = raw.get("model", {}) if raw.get("model") is not None else {}
    if not (photo_task or photo_data) or not isinstance(model, dict):
        return raw
    return {**raw, "model": {**PHOTO_MODEL_DEFAULTS, **model}}


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, enum.Enum):  # the task: checkpoints load with weights_only
        return value.value
    return os.fspath(value) if isinstance(value, Path) else value
