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

Lesion categories come from the masks (`rcm.train._mask_classes`); local
pretrained weights are placed by `rcm.train._init_weights`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

import numpy as np
import torch
from torch import nn

from rcm.data import LabelledMosaic, Sample, WindowDataset, WindowTarget, window_target
from rcm.errors import InputError
from rcm.io import open_mosaic
from rcm.models import ModelMeta, Task, build_network, normalise, to_unit, window_family
from rcm.tiling import tile_px_for
from rcm.train._augment import photometric
from rcm.train._config import TrainConfig
from rcm.train._init_weights import load_init
from rcm.train._mask_classes import class_names, class_pixels, lesion_categories
from rcm.train._sampling import draw_examples, example_loader
from rcm.train._task import model_meta

log = logging.getLogger(__name__)


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

    task: ClassVar[Task]  # DETECTOR or SEGMENTER
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


def _check_lesions(name: str, dataset: WindowDataset, config: TrainConfig) -> None:
    counts = dataset.windows.summary()
    if not counts["positive_windows"]:
        raise InputError(
            config.data.manifest,
            f"the {name} mosaics give no windows with lesion pixels ({counts['windows']} "
            "windows in all): check the masks, the split and data.min_tissue",
        )
