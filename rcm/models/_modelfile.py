"""Model files that carry their own metadata and load without executing code.

A model file is a safetensors file whose header metadata holds, under the key
``rcm``, a JSON `ModelMeta`: architecture, classes, tile size, microns per
pixel, normalisation and provenance. Inference builds the network from that
metadata, so it cannot silently mismatch training. Plain PyTorch files
(``.pt``/``.pth``) are accepted when they hold ``{"rcm": <json>, "state_dict":
{...}}`` and are read with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import json
import os
import pickle
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import nn

from rcm.errors import InputError
from rcm.io._atomic import atomic_output
from rcm.io._mosaic import file_checksum

FORMAT = "rcm-model/1"
_TORCH_SUFFIXES = (".pt", ".pth")
TASKS = ("classifier", "detector", "segmenter")


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
        task: ``"classifier"`` (tile labels), ``"detector"`` (boxes, masks) or
            ``"segmenter"`` (per-pixel classes).
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
    task: str = "classifier"
    settings: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {', '.join(TASKS)}, got {self.task!r}")
        least = 1 if self.task == "detector" else 2
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
        return json.dumps({"format": FORMAT, **asdict(self)}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ModelMeta:
        data = json.loads(text)
        if data.pop("format", None) != FORMAT:
            raise ValueError(f"not an {FORMAT} model description")
        for key in ("classes", "positive", "mean", "std"):
            data[key] = tuple(data[key])
        return cls(**data)

    def build(self) -> nn.Module:
        """The network, randomly initialised, ready for this file's weights."""
        from rcm.models._build import build_network  # the registries import this module

        return build_network(self)


@dataclass(frozen=True)
class LoadedModel:
    """A network in eval mode with the metadata and checksum of its file."""

    module: nn.Module
    meta: ModelMeta
    checksum: str
    path: str


def save_model(
    path: str | os.PathLike[str], module: nn.Module, meta: ModelMeta, *, overwrite: bool = False
) -> Path:
    """Write weights and metadata to one safetensors file, atomically."""
    tensors = {
        name: tensor.detach().cpu().contiguous() for name, tensor in module.state_dict().items()
    }
    with atomic_output(path, overwrite=overwrite) as partial:
        save_file(tensors, str(partial), metadata={"rcm": meta.to_json()})
    return Path(path)


def read_meta(path: str | os.PathLike[str]) -> ModelMeta:
    """The metadata of a model file, without reading its weights."""
    meta, _ = _read(path, weights=False)
    return meta


def load_model(path: str | os.PathLike[str], *, device: str | torch.device = "cpu") -> LoadedModel:
    """Rebuild the network a model file describes and load its weights.

    Raises:
        InputError: If the file is missing, not a model file, or its weights do
            not fit the architecture it names (before any inference runs).

    """
    meta, state = _read(path, weights=True)
    try:
        module = meta.build()
    except Exception as error:  # timm raises several types for bad architectures
        raise InputError(path, f"cannot build {meta.architecture!r}: {error}") from error
    check_fits(path, module, state, meta)
    module.load_state_dict(state, strict=True)
    module.eval().to(device)
    return LoadedModel(module, meta, file_checksum(path), os.fspath(path))


def _read(
    path: str | os.PathLike[str], *, weights: bool
) -> tuple[ModelMeta, dict[str, torch.Tensor]]:
    target = Path(path)
    if not target.is_file():
        raise InputError(path, "model file not found")
    try:
        if target.suffix.lower() in _TORCH_SUFFIXES:
            blob = torch.load(target, map_location="cpu", weights_only=True)
            if not isinstance(blob, dict) or "rcm" not in blob or "state_dict" not in blob:
                raise ValueError("a .pt model file must hold {'rcm': <json>, 'state_dict': {...}}")
            return ModelMeta.from_json(blob["rcm"]), dict(blob["state_dict"]) if weights else {}
        with safe_open(str(target), framework="pt") as handle:
            header = handle.metadata() or {}
            if "rcm" not in header:
                raise ValueError("safetensors file has no rcm metadata (not an rcm model file)")
            meta = ModelMeta.from_json(header["rcm"])
            names = handle.keys() if weights else []
            state = {key: handle.get_tensor(key) for key in names}
        return meta, state
    except (
        ValueError,
        TypeError,
        KeyError,
        SafetensorError,
        RuntimeError,
        OSError,
        pickle.UnpicklingError,
    ) as error:
        raise InputError(path, f"not a usable model file ({error})") from error


def check_fits(
    path: str | os.PathLike[str], module: nn.Module, state: dict[str, torch.Tensor], meta: ModelMeta
) -> None:
    expected = module.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    mismatched = [
        f"{key}: file {tuple(state[key].shape)} vs model {tuple(expected[key].shape)}"
        for key in sorted(set(state) & set(expected))
        if state[key].shape != expected[key].shape
    ]
    if not (missing or unexpected or mismatched):
        return
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing (e.g. {missing[0]})")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected (e.g. {unexpected[0]})")
    if mismatched:
        problems.append(f"{len(mismatched)} of another shape (e.g. {mismatched[0]})")
    raise InputError(
        path,
        f"weights do not fit {meta.architecture} with {len(meta.classes)} classes and "
        f"{meta.in_chans} input channel(s): " + "; ".join(problems),
    )
