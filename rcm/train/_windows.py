"""What detector and segmenter training share: windows, sampling, inputs, classes, metadata.

Both tasks learn from `WindowDataset` windows of the training mosaics: their
edge covers what ``model.tile_px`` pixels at the model's pixel size cover (as
`rcm infer` cuts them; all mosaics must share one pixel size for now), and
windows cut at another edge are resized to ``tile_px`` as in inference.
Geometric augmentation (one of the eight flips and quarter turns of the
square, on when ``augment.flips`` or ``augment.rotate90`` is) happens in the
dataset so targets follow exactly; brightness and contrast change on the
device; ``augment.scale`` is not used. Pixels go through the same `to_unit`
and `normalise` as in inference, so a model sees the same values.

Lesion categories are the values of the lesion masks: a model's class ``i``
(counting lesion categories from 0) is mask value ``i + 1``, so a detector's
labels and `rcm infer`'s category ids equal the mask values. Names come from
``data.class_names``, else from the masks' own ``rcm.classes`` attribute (rcm's
synthetic masks carry one), else ``class_<value>``.
"""

from __future__ import annotations

import logging
import pickle
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

import dask.array as da
import numpy as np
import torch
import zarr
import zarr.errors
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

from rcm._dask import local_compute
from rcm.data._labelled import LabelledMosaic
from rcm.data._window_dataset import Sample, WindowDataset
from rcm.data._window_targets import WindowTarget, window_target
from rcm.errors import InputError
from rcm.io import open_mosaic
from rcm.models import ModelMeta
from rcm.models._build import build_network
from rcm.models._families import WindowTask as WindowKind
from rcm.models._families import window_family
from rcm.models._inputs import normalise, to_unit
from rcm.tiling import tile_px_for
from rcm.train._augment import photometric
from rcm.train._config import TrainConfig
from rcm.train._loop import model_meta
from rcm.train._sampling import draw_examples, example_loader

log = logging.getLogger(__name__)

MASK_VALUES = 256  # lesion masks hold uint8 class values
# Where local pretrained weights (model.init) may sit inside the network, tried in
# turn: the whole network, a torchvision detector's ResNet, an smp encoder (its own
# or a timm one). The prefix that places the most tensors wins.
INIT_PREFIXES = ("", "backbone.body.", "encoder.", "encoder.model.")


class WindowBatch(NamedTuple):
    """Windows as stored (``(n, h, w[, c])`` integers) and their targets at model scale."""

    pixels: torch.Tensor
    targets: list[WindowTarget]


class WindowTrainer:
    """Base of `DetectorTask` and `SegmenterTask`: data, sampling, inputs and metadata.

    Args:
        config: The training config (``model.architecture`` a registered detector or
            segmenter, ``model.settings`` its backbone or encoder).
        train: Training mosaics.
        validation: Validation mosaics.
        um_per_px: The model's pixel size; None when unknown (windows are then
            cut at ``model.tile_px`` mosaic pixels).

    Raises:
        InputError: If the architecture is not a registered model of this task,
            the mosaics have pixel sizes that need different window edges, or the
            training or validation windows hold no lesion.

    """

    task: ClassVar[WindowKind]
    monitor: str

    def __init__(
        self,
        config: TrainConfig,
        train: list[LabelledMosaic],
        validation: list[LabelledMosaic],
        um_per_px: float | None,
    ) -> None:
        self.config = config
        self.um_per_px = um_per_px
        data, model = config.data, config.model
        try:  # a clear error before reading any data
            window_family(model.architecture, self.task)
        except ValueError as error:
            raise InputError(None, f"model.architecture: {error}") from error
        self.source_px = window_edge([*train, *validation], model.tile_px, um_per_px, config)
        shared: dict[str, Any] = {
            "window_px": self.source_px,
            "overlap": data.overlap,
            "min_tissue": data.min_tissue,
            "min_area": data.min_area,
        }
        # The dataset draws one of all eight flips and turns: either option turns it on.
        geometric = config.augment.flips or config.augment.rotate90
        if config.augment.scale > 0:
            log.info("augment.scale is not applied to detector or segmenter windows")
        self.train = WindowDataset(
            mosaics=train, augment=geometric, seed=config.runtime.seed, **shared
        )
        self.validation = WindowDataset(mosaics=validation, **shared)
        for name, dataset in (("training", self.train), ("validation", self.validation)):
            _check_lesions(name, dataset, config)
            for mosaic_id, reason in dataset.skipped:
                log.warning("%s mosaic %s left out: %s", name, mosaic_id, reason)
        self.train_pixels = class_pixels(train)
        names = class_names([*train, *validation], config.data.class_names)
        self.categories = lesion_categories(self.train_pixels + class_pixels(validation), names)
        self._collate = ResizingCollate(self.source_px, model.tile_px, data.min_area)
        self._device = torch.device("cpu")
        self._normalising = self.meta({})  # checks the metadata before training starts

    @property
    def classes(self) -> tuple[str, ...]:
        """The model's classes (detectors: the lesion categories; segmenters: background first)."""
        raise NotImplementedError

    def summary(self) -> dict[str, Any]:
        """Window counts per split, mosaics left out, and how windows were cut."""
        return {
            "windows": {
                "train": self.train.windows.summary(),
                "validation": self.validation.windows.summary(),
            },
            "skipped_mosaics": [
                {"mosaic_id": mosaic_id, "reason": reason}
                for dataset in (self.train, self.validation)
                for mosaic_id, reason in dataset.skipped
            ],
            "mask_values": {str(i + 1): name for i, name in enumerate(self.categories)},
            "training_mask_pixels": {
                name: int(self.train_pixels[i + 1]) for i, name in enumerate(self.categories)
            },
            "window_rule": {
                "window_px": self.source_px,
                "tile_px": self.config.model.tile_px,
                "um_per_px": self.um_per_px,
                "overlap": self.config.data.overlap,
                "min_tissue": self.config.data.min_tissue,
                "min_area": self.config.data.min_area,
            },
        }

    def build(self) -> nn.Module:
        network = build_network(self._normalising)
        if self.config.model.init is not None:
            load_init(network, self.config.model.init)
        return network

    def epoch_examples(self, epoch: int, rng: np.random.Generator) -> np.ndarray:
        # Every epoch's draw starts here (the loop asks for it first), so the
        # dataset's flips and turns change with the epoch and repeat on resume.
        self.train.set_epoch(epoch)
        balanced = self.config.optim.balance == "sampler"
        weights = self.train.sample_weights(0.5) if balanced else None
        count = self.config.optim.examples_per_epoch or len(self.train)
        return draw_examples(count, len(self.train), weights, rng)

    def batches(self, indices: np.ndarray, device: torch.device) -> Iterator[WindowBatch]:
        self._device = device
        return example_loader(self.train, indices, self.config, device, self._collate)

    def meta(self, provenance: dict[str, Any]) -> ModelMeta:
        return model_meta(
            self.config,
            task=self.task,
            classes=self.classes,
            positive=self.categories,
            um_per_px=self.um_per_px,
            provenance={**provenance, **self.summary()},
        )

    def _validation_batches(self, device: torch.device) -> Iterator[WindowBatch]:
        self._device = device
        return example_loader(
            self.validation, np.arange(len(self.validation)), self.config, device, self._collate
        )

    def _input(
        self, pixels: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Stored windows to the network's input, as `rcm infer` prepares them.

        With a `generator` (training), brightness and contrast are augmented
        between scaling to [0, 1] and normalising.
        """
        model_px = self.config.model.tile_px
        size = model_px if self.source_px != model_px else None
        x = to_unit(pixels.to(self._device, non_blocking=True), self.config.model.in_chans, size)
        if generator is not None:
            x = photometric(x, self.config.augment, generator)
        x = normalise(x, self._normalising)
        return x.contiguous(memory_format=torch.channels_last) if x.is_cuda else x


@dataclass(frozen=True)
class ResizingCollate:
    """DataLoader collate: pixels stacked into a tensor, targets brought to the model's scale.

    When windows are cut at another edge than the model's (the mosaics' pixel
    size differs from the model's), the class mask is resampled by nearest
    neighbour and the instances are found again on it; the pixels are resized
    on the device, as in inference.
    """

    source_px: int
    model_px: int
    min_area: int

    def __call__(self, batch: Sequence[Sample]) -> WindowBatch:
        pixels = torch.from_numpy(np.stack([p for p, _ in batch]))
        targets = [target for _, target in batch]
        if self.source_px != self.model_px:
            area = self.min_area * (self.model_px / self.source_px) ** 2
            min_area = max(1, round(area))
            targets = [resize_target(t, self.model_px, min_area) for t in targets]
        return WindowBatch(pixels, targets)


def resize_target(target: WindowTarget, size: int, min_area: int) -> WindowTarget:
    """The target of a ``size`` x ``size`` resampling of the window (nearest neighbour).

    Each new pixel takes the class under its centre; instances are the
    connected components of the resampled class mask (see `window_target`).
    """
    height, width = target.shape
    rows = np.minimum(((np.arange(size) + 0.5) * (height / size)).astype(np.int64), height - 1)
    cols = np.minimum(((np.arange(size) + 0.5) * (width / size)).astype(np.int64), width - 1)
    return window_target(target.classes[np.ix_(rows, cols)], min_area=min_area)


def window_edge(
    mosaics: Sequence[LabelledMosaic], tile_px: int, um_per_px: float | None, config: TrainConfig
) -> int:
    """The window edge in mosaic pixels that covers what the model's window covers.

    Raises:
        InputError: If the mosaics' pixel sizes call for different edges (one
            window dataset cuts one edge; convert the mosaics to one pixel size).

    """
    edges: dict[int, list[str]] = {}
    for item in mosaics:
        mosaic_um = open_mosaic(item.mosaic).info.um_per_px
        edge = (
            tile_px
            if um_per_px is None or mosaic_um is None
            else tile_px_for(tile_px * um_per_px, mosaic_um)
        )
        edges.setdefault(edge, []).append(item.mosaic_id)
    if len(edges) > 1:
        found = "; ".join(f"{edge} px: {', '.join(ids[:3])}" for edge, ids in sorted(edges.items()))
        raise InputError(
            config.data.manifest,
            "detector and segmenter training needs mosaics of one pixel size, but these "
            f"call for different window edges ({found}); convert them to one pixel size",
        )
    return next(iter(edges), tile_px)


def class_pixels(mosaics: Sequence[LabelledMosaic]) -> np.ndarray:
    """Pixels of each mask value (0..255) over the lesion masks of `mosaics`, chunk by chunk.

    Raises:
        InputError: If a mask holds values above 255.

    """
    total = np.zeros(MASK_VALUES, np.int64)
    for item in mosaics:
        if item.mask is None:
            continue
        level = open_mosaic(item.mask).levels[0]
        rows, cols = level.numblocks[:2]
        counts = da.map_blocks(
            _block_counts,
            level,
            dtype=np.int64,
            chunks=((1,) * rows, (MASK_VALUES + 1,) * cols),
        )
        with local_compute("mask classes", progress=False):
            found = np.asarray(counts.compute()).reshape(rows, cols, -1).sum(axis=(0, 1))
        if found[MASK_VALUES]:
            raise InputError(item.mask, "lesion mask values must lie in [0, 255]")
        total += found[:MASK_VALUES]
    return total


def _block_counts(block: np.ndarray) -> np.ndarray:
    """Counts of values 0..255 in a block, and of anything larger in the last slot."""
    values = np.minimum(block.ravel().astype(np.int64), MASK_VALUES)
    return np.bincount(values, minlength=MASK_VALUES + 1)[None]


def class_names(mosaics: Sequence[LabelledMosaic], configured: dict[Any, Any]) -> dict[int, str]:
    """Names of mask values: those stored with the masks, overridden by ``data.class_names``.

    OME-Zarr masks written by rcm keep their names under ``rcm.classes`` (the
    synthetic ones do); other values are named ``class_<value>`` by `lesion_categories`.

    Raises:
        InputError: If two masks name one value differently.

    """
    names: dict[int, str] = {}
    for item in mosaics:
        if item.mask is None or not item.mask.is_dir():
            continue
        try:
            attributes = zarr.open_group(str(item.mask), mode="r").attrs.asdict()
        except (OSError, ValueError, KeyError, zarr.errors.BaseZarrError):
            continue  # not a group with attributes: the mask reader reports real problems
        rcm_attributes = attributes.get("rcm")
        stored = rcm_attributes.get("classes") if isinstance(rcm_attributes, dict) else None
        for value, name in (stored if isinstance(stored, dict) else {}).items():
            known = names.setdefault(int(value), str(name))
            if known != str(name):
                raise InputError(
                    item.mask,
                    f"mask value {value} is named {name!r} here but {known!r} in another "
                    "mask; set data.class_names",
                )
    names.update({int(value): str(name) for value, name in configured.items()})
    return names


def lesion_categories(pixels: np.ndarray, names: dict[int, str]) -> tuple[str, ...]:
    """Names of mask values 1..the largest one present (absent values keep their place).

    Raises:
        ValueError: If no mask holds a lesion value, or two values share a name.

    """
    present = np.flatnonzero(pixels[1:]) + 1
    if not len(present):
        raise ValueError("the lesion masks hold no lesion values")
    categories = tuple(names.get(v, f"class_{v}") for v in range(1, int(present.max()) + 1))
    if len(set(categories)) != len(categories):
        raise ValueError(f"two mask values share a class name: {', '.join(categories)}")
    return categories


def load_init(network: nn.Module, path: Path) -> dict[str, int]:
    """Load local pretrained weights into the part of `network` they fit.

    Takes a safetensors file or a PyTorch state dict (read with
    ``weights_only=True``; ``{"state_dict": ...}`` and ``{"model": ...}`` wrappers
    are opened). The weights are placed under the prefix of `INIT_PREFIXES` where
    most of them fit by name and shape; an RGB first convolution is summed to
    one channel for grayscale networks (and a gray one spread over three).

    Returns:
        Counts of ``loaded`` tensors and of network tensors left ``initialised``.

    Raises:
        InputError: If the file cannot be read or none of its weights fit.

    """
    state = _read_state(path)
    expected = network.state_dict()
    best: dict[str, torch.Tensor] = {}
    for prefix in INIT_PREFIXES:
        fitted = {}
        for key, value in state.items():
            name = prefix + key
            if name in expected:
                adapted = _fit_channels(value, expected[name].shape)
                if adapted is not None:
                    fitted[name] = adapted
        if len(fitted) > len(best):
            best = fitted
    if not best:
        raise InputError(path, "none of its weights fit the network (names or shapes differ)")
    network.load_state_dict(best, strict=False)
    counts = {"loaded": len(best), "initialised": len(expected) - len(best)}
    log.info("initial weights from %s: %d tensors loaded, %d left random", path, *counts.values())
    return counts


def _read_state(path: Path) -> dict[str, torch.Tensor]:
    try:
        if path.suffix.lower() == ".safetensors":
            return load_file(str(path))
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, ValueError, SafetensorError, pickle.UnpicklingError) as error:
        raise InputError(path, f"cannot read initial weights ({error})") from error
    for key in ("state_dict", "model"):
        if isinstance(blob, dict) and isinstance(blob.get(key), dict):
            blob = blob[key]
    if not isinstance(blob, dict):
        raise InputError(path, "initial weights must be a state dict")
    return {k: v for k, v in blob.items() if isinstance(v, torch.Tensor)}


def _fit_channels(value: torch.Tensor, shape: torch.Size) -> torch.Tensor | None:
    """`value` shaped as `shape` (first convolution's input channels adapted), or None."""
    if value.shape == shape:
        return value
    if value.ndim == 4 and value.shape[0] == shape[0] and value.shape[2:] == shape[2:]:
        if value.shape[1] == 3 and shape[1] == 1:
            return value.sum(dim=1, keepdim=True)
        if value.shape[1] == 1 and shape[1] == 3:
            return value.expand(-1, 3, -1, -1) / 3
    return None


def _check_lesions(name: str, dataset: WindowDataset, config: TrainConfig) -> None:
    counts = dataset.windows.summary()
    if not counts["positive_windows"]:
        raise InputError(
            config.data.manifest,
            f"the {name} mosaics give no windows with lesion pixels ({counts['windows']} "
            "windows in all): check the masks, the split and data.min_tissue",
        )
