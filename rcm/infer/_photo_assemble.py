"""The output folder of a photo run, assembled from its shards in source order.

Probabilities are derived from the raw results here, once, over the whole set
(row by row, so batching never changes a value); the gallery shows the
photos whose suspicious score (the highest probability of the model's positive
categories) is highest, ties in source order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rcm.data import read_photo
from rcm.infer._photo_inputs import PhotoInputs
from rcm.infer._photo_journal import Shard
from rcm.infer._photo_models import PhotoBoxes, calibrated_scores, classifier_probabilities
from rcm.infer._photo_options import PhotoDetectorOptions, PhotoOptions
from rcm.models import ModelMeta, Task
from rcm.outputs import DetectionResults, PhotoPredictions, SkippedPhoto
from rcm.render import GalleryPhoto, write_photo_gallery

_TOP = 3  # categories named in a classifier's gallery caption


@dataclass(frozen=True)
class AssembledPhotos:
    """Everything the output files hold, in source order.

    Attributes:
        predictions: One row per photo read.
        positions: ``(N,)`` source position of each row.
        skipped: Photos left out, in source order.
        hashes: sha256 hex per source position ("" when unreadable).
        boxes: A detector's kept boxes per row (None for classifiers).

    """

    predictions: PhotoPredictions
    positions: np.ndarray
    skipped: tuple[SkippedPhoto, ...]
    hashes: tuple[str, ...]
    boxes: tuple[PhotoBoxes, ...] | None

    @property
    def box_count(self) -> int | None:
        """A detector's boxes kept, over every photo (None for classifiers)."""
        return None if self.boxes is None else sum(len(found.scores) for found in self.boxes)

    def detections(self) -> DetectionResults | None:
        """A detector's ``instances.json``: COCO results, photo after photo (None otherwise)."""
        if self.boxes is None:
            return None
        items: list[dict] = []
        for image_id, found in zip(self.predictions.image_ids, self.boxes, strict=True):
            xywh = np.concatenate([found.boxes[:, :2], found.boxes[:, 2:] - found.boxes[:, :2]], 1)
            rounded = (np.round(xywh.astype(np.float64), 2) + 0.0).tolist()
            scores = np.round(found.scores.astype(np.float64), 6).tolist()
            items.extend(
                {"image_id": int(image_id), "category_id": int(label) + 1, "bbox": box, "score": s}
                for box, s, label in zip(rounded, scores, found.labels.tolist(), strict=True)
            )
        return DetectionResults(tuple(items))


def assemble(
    inputs: PhotoInputs, shards: Sequence[Shard], meta: ModelMeta, options: PhotoOptions
) -> AssembledPhotos:
    """The run's results from its shards (in batch order)."""
    hashes = [""] * len(inputs.items)
    skipped: list[SkippedPhoto] = []
    positions: list[int] = []
    sizes: list[np.ndarray] = []
    logits: list[np.ndarray] = []
    boxes: list[PhotoBoxes] = []
    for shard in shards:
        starts = None if shard.counts is None else np.concatenate([[0], np.cumsum(shard.counts)])
        for row, position in enumerate(shard.positions.tolist()):
            hashes[position] = str(shard.hashes[row])
            if shard.errors[row]:
                skipped.append(SkippedPhoto(inputs.items[position].image, str(shard.errors[row])))
                continue
            positions.append(position)
            sizes.append(shard.sizes[row])
            if shard.logits is not None:
                logits.append(shard.logits[row])
            if starts is not None:
                boxes.append(_kept(shard, int(starts[row]), int(starts[row + 1]), options))
    count, classes = len(positions), len(meta.classes)
    if meta.task == Task.PHOTO_DETECTOR:
        raw = np.zeros((count, classes))
        for row, found in enumerate(boxes):
            np.maximum.at(raw[row], found.labels, found.scores.astype(np.float64))
        calibrated = calibrated_scores(raw, meta)
    else:
        stacked = np.stack(logits) if logits else np.zeros((0, classes), np.float32)
        raw, calibrated = classifier_probabilities(stacked, meta)
    items = [inputs.items[p] for p in positions]
    predictions = PhotoPredictions(
        images=tuple(item.image for item in items),
        image_ids=np.array([item.image_id for item in items], np.int64),
        sizes=np.array(sizes, np.int64).reshape(-1, 2),
        categories=tuple(meta.classes),
        probabilities=raw,
        calibrated=calibrated,
    )
    detected = tuple(boxes) if meta.task == Task.PHOTO_DETECTOR else None
    return AssembledPhotos(
        predictions, np.array(positions, np.int64), tuple(skipped), tuple(hashes), detected
    )


def _kept(shard: Shard, start: int, end: int, options: PhotoOptions) -> PhotoBoxes:
    assert shard.boxes is not None and shard.scores is not None and shard.labels is not None
    least = options.min_score if isinstance(options, PhotoDetectorOptions) else 0.0
    keep = np.flatnonzero(shard.scores[start:end] >= least) + start
    return PhotoBoxes(shard.boxes[keep], shard.scores[keep], shard.labels[keep])


def gallery_order(assembled: AssembledPhotos, meta: ModelMeta, count: int) -> np.ndarray:
    """Rows of the `count` photos with the highest suspicious score, best first."""
    table = assembled.predictions
    columns = [meta.classes.index(name) for name in meta.positive] or list(range(len(meta.classes)))
    score = table.probabilities[:, columns].max(axis=1) if len(table) else np.zeros(0)
    order = np.lexsort((np.arange(len(table)), -score))
    return order[:count]


def write_gallery_page(
    folder: Path,
    assembled: AssembledPhotos,
    inputs: PhotoInputs,
    meta: ModelMeta,
    options: PhotoOptions,
    title: str,
) -> None:
    """``gallery.html`` and its pictures, of the photos `gallery_order` picks."""
    table, photos = assembled.predictions, []
    for row in gallery_order(assembled, meta, options.gallery).tolist():
        item = inputs.items[int(assembled.positions[row])]
        pixels = read_photo(item.path, item.truth, max_pixels=options.max_pixels)
        truth_names = [inputs.categories[label] for label in item.truth_labels.tolist()]
        lines = [f"id {int(table.image_ids[row])}", *_caption(table, row, meta, assembled)]
        if inputs.has_truth:
            lines.append("expert: " + (", ".join(truth_names) or "no lesion boxes"))
        found = assembled.boxes[row] if assembled.boxes is not None else None
        photos.append(
            GalleryPhoto(
                rgb=pixels.rgb,
                title=item.image,
                lines=tuple(lines),
                boxes=found.boxes if found is not None else np.zeros((0, 4)),
                labels=found.labels if found is not None else np.zeros(0, np.int64),
                scores=found.scores if found is not None else np.zeros(0),
                truth=pixels.boxes,
                truth_labels=np.array(
                    [meta.classes.index(n) if n in meta.classes else -1 for n in truth_names],
                    np.int64,
                ),
            )
        )
    legend = (
        "model boxes solid with their scores; expert boxes dashed"
        if meta.task == Task.PHOTO_DETECTOR
        else ""
    )
    write_photo_gallery(folder, photos, meta.classes, title=title, legend=legend)


def _caption(
    table: PhotoPredictions, row: int, meta: ModelMeta, assembled: AssembledPhotos
) -> list[str]:
    raw = table.probabilities[row]
    calibrated = None if table.calibrated is None else table.calibrated[row]
    order = np.lexsort((np.arange(len(raw)), -raw))[:_TOP]
    lines = []
    for index in order.tolist():
        extra = "" if calibrated is None else f" (calibrated {calibrated[index]:.3f})"
        lines.append(f"{meta.classes[index]} {raw[index]:.3f}{extra}")
    if assembled.boxes is not None:
        lines.insert(0, f"{len(assembled.boxes[row].scores)} boxes")
    return lines
