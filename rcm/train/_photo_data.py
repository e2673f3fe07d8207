"""A photo classifier's examples: labels from the expert boxes, pixels decoded in workers.

Labels come from each photograph's boxes (crowd boxes, COCO ``iscrowd`` or VOC
``difficult``, are regions to ignore and give no label, as in evaluation; the
category list gives the output order):

- ``multi``: a 0/1 vector with a 1 for every category among the photo's boxes
  (a sigmoid per category). A photo without boxes has all zeros: it teaches
  the model what no lesion looks like.
- ``single``: one category per photo (softmax), by ``photo.single_rule``:
  ``severity`` takes the first of its categories in ``photo.severity`` (default
  the category order; categories not listed come after, in category order),
  ``largest`` the category of its largest box (the first such box on a tie).
  A photo without boxes has no category and is left out (counted in the
  training summary).

Pixels: `rcm.data.read_photo` (EXIF orientation, the RGB rule, the pixel
budget) then `rcm.data.fit_photo` to the square input, in DataLoader workers;
batches reach the device as ``(n, size, size, 3)`` uint8.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import default_collate

from rcm.data import PhotoBox, PhotoFit, PhotoRecord, PhotoSource, fit_photo, listing, read_photo
from rcm.errors import InputError
from rcm.train._config import PhotoConfig, TrainConfig
from rcm.train._sampling import example_loader


@dataclass(frozen=True)
class PhotoTargets:
    """The labelled photos of one split part.

    Attributes:
        records: The photos that are used, in split order.
        multi: ``(N, C)`` float32 0/1: the categories among each photo's boxes.
        single: ``(N,)`` int64 category per photo (``single`` labels), else None.
        left_out: Photos without a label (``single`` labels: photos without boxes).

    """

    records: tuple[PhotoRecord, ...]
    multi: np.ndarray
    single: np.ndarray | None
    left_out: tuple[str, ...]

    @property
    def targets(self) -> np.ndarray:
        """What the loss takes: `single` when set, else `multi`."""
        return self.multi if self.single is None else self.single

    def counts(self, categories: tuple[str, ...]) -> dict[str, Any]:
        """Photos per category (by label), photos without boxes, photos left out."""
        if self.single is None:
            per_category = self.multi.sum(axis=0).astype(int)
        else:
            per_category = np.bincount(self.single, minlength=len(categories))
        return {
            "photos": len(self.records),
            "per_category": dict(zip(categories, per_category.tolist(), strict=True)),
            "without_boxes": int(sum(not record.boxes for record in self.records)),
            "left_out": len(self.left_out),
        }


def photo_targets(
    records: tuple[PhotoRecord, ...], categories: tuple[str, ...], photo: PhotoConfig
) -> PhotoTargets:
    """Label `records` by the rule `photo` gives (see the module's description)."""
    if photo.labels == "multi":
        return PhotoTargets(records, category_matrix(records, categories), None, ())
    index = {name: i for i, name in enumerate(categories)}
    rank = {name: i for i, name in enumerate(photo.severity)}
    order = {name: (rank.get(name, len(rank)), index[name]) for name in categories}
    kept, labels = [], []
    for record in records:
        boxes = labelled_boxes(record)
        if not boxes:
            continue
        if photo.single_rule == "severity":
            chosen = min((box.category for box in boxes), key=order.__getitem__)
        else:
            areas = [box.width * box.height for box in boxes]
            chosen = boxes[int(np.argmax(areas))].category
        kept.append(record)
        labels.append(index[chosen])
    single = np.asarray(labels, dtype=np.int64)
    multi = np.zeros((len(kept), len(categories)), dtype=np.float32)
    multi[np.arange(len(kept)), single] = 1.0
    left_out = tuple(record.image for record in records if not labelled_boxes(record))
    return PhotoTargets(tuple(kept), multi, single, left_out)


def labelled_boxes(record: PhotoRecord) -> tuple[PhotoBox, ...]:
    """The boxes that label a photo: all but crowd boxes (regions to ignore)."""
    return tuple(box for box in record.boxes if not box.crowd)


def category_matrix(records: tuple[PhotoRecord, ...], categories: tuple[str, ...]) -> np.ndarray:
    """``(N, C)`` float32 0/1: the categories among each photo's labelling boxes."""
    index = {name: i for i, name in enumerate(categories)}
    multi = np.zeros((len(records), len(categories)), dtype=np.float32)
    for row, record in enumerate(records):
        for box in labelled_boxes(record):
            multi[row, index[box.category]] = 1.0
    return multi


def sampler_weights(multi: np.ndarray) -> np.ndarray:
    """Drawing weights that even out the long tail of categories.

    `multi` is ``(N, C)`` 0/1, the categories of each photo (`PhotoTargets.multi`,
    `category_matrix`). A photo's weight is the mean inverse frequency (photos per
    category in this part) of its categories; photos without boxes form a group
    of their own, weighted by its inverse size. With one category per photo
    (``single`` labels) that is the inverse frequency of its label, so every
    category is drawn equally often.
    """
    empty = multi.sum(axis=1) == 0
    frequency = multi.sum(axis=0)
    inverse = np.divide(1.0, frequency, out=np.zeros_like(frequency), where=frequency > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        weights = (multi @ inverse) / multi.sum(axis=1)
    if empty.any():
        weights[empty] = 1.0 / empty.sum()
    return weights.astype(np.float64)


def loss_weights(targets: PhotoTargets) -> torch.Tensor:
    """Per-category loss weights for ``optim.balance: weights``.

    ``multi``: BCE's ``pos_weight``, negatives / positives per category (1 for a
    category without positives). ``single``: class weights ``N / (C * count)``
    (as the tile classifier), 1 for a category without photos.
    """
    multi = targets.multi
    positives = multi.sum(axis=0)
    if targets.single is None:
        negatives = len(multi) - positives
        weight = np.where(positives > 0, negatives / np.maximum(positives, 1), 1.0)
    else:
        weight = np.where(
            positives > 0, len(multi) / (multi.shape[1] * np.maximum(positives, 1)), 1.0
        )
    return torch.tensor(weight, dtype=torch.float32)


@dataclass(frozen=True)
class UnreadablePhoto:
    """A photo a worker could not decode: carried to the main process as data.

    A DataLoader re-raises a worker's exception as a RuntimeError when it cannot
    rebuild it, which would turn a damaged photo (exit 2) into a crash (exit 1).
    """

    path: str | None
    reason: str


Example = tuple[torch.Tensor, torch.Tensor]


def collate_photos(items: list[Example | UnreadablePhoto]) -> Any:
    """Stack a batch, or pass on the first photo that could not be read."""
    for item in items:
        if isinstance(item, UnreadablePhoto):
            return item
    return default_collate(items)


def raise_unreadable(batches: Iterable[Any]) -> Iterator[Any]:
    """The batches, raising `InputError` (naming the photo) where one could not be read."""
    for batch in batches:
        if isinstance(batch, UnreadablePhoto):
            raise InputError(batch.path, batch.reason)
        yield batch


def photo_loader(
    inputs: torch.utils.data.Dataset[Any],
    indices: np.ndarray,
    config: TrainConfig,
    device: torch.device,
    collate: Callable[[list[Any]], Any],
) -> Iterator[Any]:
    """Batches of photo examples decoded in workers; a photo that cannot be read raises."""
    return raise_unreadable(example_loader(inputs, indices, config, device, collate))


class PhotoInputs(torch.utils.data.Dataset[Example | UnreadablePhoto]):
    """``(size, size, 3)`` uint8 photos and their targets; decoded when asked (in workers).

    Picklable (paths and arrays only), so DataLoader workers can take it; batch
    it with `collate_photos` and read the batches through `raise_unreadable`.
    """

    def __init__(self, paths: list[Path], targets: np.ndarray, size: int, fit: PhotoFit) -> None:
        if len(paths) != len(targets):
            raise ValueError("one target per photo")
        self.paths, self.targets, self.size, self.fit = paths, targets, size, fit

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> Example | UnreadablePhoto:
        try:
            pixels = read_photo(self.paths[index]).rgb
        except InputError as error:
            return UnreadablePhoto(error.path, error.reason)
        square = fit_photo(pixels, self.size, self.fit)
        return torch.from_numpy(square), torch.as_tensor(self.targets[index])


def check_category_names(config: TrainConfig, categories: tuple[str, ...]) -> None:
    """Names in the photo section (``severity``, ``positive``) must be categories of the set."""
    photo, where = config.photo, config.photos
    for key, names in (("photo.severity", photo.severity), ("photo.positive", photo.positive)):
        unknown = sorted(set(names) - set(categories))
        if unknown:
            raise InputError(
                where,
                f"{key} names {', '.join(unknown)}, not categories of this dataset "
                f"({', '.join(categories)})",
            )
        if len(set(names)) != len(names):
            raise InputError(where, f"{key} lists a category twice")


def check_photo_files(source: PhotoSource, records: tuple[PhotoRecord, ...]) -> None:
    """Every photo file is there before training starts (a wrong images root shows at once)."""
    missing = [record.image for record in records if not source.image_path(record).is_file()]
    if missing:
        raise InputError(
            source.images_root,
            f"{len(missing)} photo(s) of the split not found under the images root: "
            f"{listing(missing, ', ')} (set data.images_root)",
        )
