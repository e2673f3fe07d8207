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
from rcm.errors import InputError, bad_input
from rcm.models import Task

Balance = Literal["sampler", "weights", "none"]
Precision = Literal["auto", "bf16", "fp16", "fp32"]


@dataclass(frozen=True)
class DataConfig:
    """Where the labelled data is and how it is cut into training examples.

    Attributes:
        manifest: Training manifest CSV (see `rcm.data.read_labelled_mosaics`).
        split: Split CSV from ``rcm data split``; its ``train`` and ``validation``
            items are used (``test`` is never read by training).
        positive_at: Lesion share at or above which a tile is lesion.
        negative_below: Lesion share below which a tile is benign (in between: left out).
        min_tissue: Tiles or windows with less tissue are not used.
        overlap: Overlap of neighbouring tiles or windows.
        min_area: Detector objects smaller than this many pixels are dropped.
        class_names: Names of lesion mask values for detectors and segmenters, e.g.
            ``{1: bcc, 2: scc}``; unnamed values use the masks' stored names or
            ``class_<value>``.

    """

    manifest: Path
    split: Path
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

    def __post_init__(self) -> None:
        checks = [
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
            if raw.get(key) not in (None, value):
                raise InputError(
                    path, f"config says {key}: {raw[key]} but the command says {value}"
                )
            raw[key] = value
        return from_mapping(TrainConfig, raw, base=source.parent)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, enum.Enum):  # the task: checkpoints load with weights_only
        return value.value
    return os.fspath(value) if isinstance(value, Path) else value
