"""Example photos for the report: the model's and the experts' boxes drawn on a few photos.

Half of the examples are the photos where the model disagrees most with the
truth (the largest gap between a category's probability and the truth, 0 or
1), half those where it agrees best; ties go by path. Each photo is read
through `rcm.data.read_photo` (upright, boxes moved with it) and drawn by
`rcm.render.photo_picture`: expert boxes dashed, model boxes (a detector's,
score 0.3 and up, ten at most) solid with their scores. A photo that cannot
be read is a warning, not a stop.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass

import numpy as np

from rcm.data import read_photo
from rcm.errors import InputError
from rcm.outputs import InputProblem
from rcm.render import GalleryPhoto, photo_picture
from rcm.report._photo_cohort import PhotoCohort

MIN_SCORE = 0.3
MAX_BOXES = 10


@dataclass(frozen=True)
class Example:
    """One drawn photo: its group (disagreement or agreement), name, caption and JPEG data."""

    group: str
    image: str
    lines: tuple[str, ...]
    jpeg: str


def photo_examples(
    cohort: PhotoCohort, count: int, problems: list[InputProblem]
) -> tuple[Example, ...]:
    """Up to `count` drawn photos; unreadable ones become warnings in `problems`."""
    if count <= 0 or not len(cohort.records):
        return ()
    gap = np.abs(cohort.scores - cohort.truth).max(axis=1)
    order = sorted(range(len(gap)), key=lambda i: (-gap[i], cohort.records[i].image))
    worst = order[: (count + 1) // 2]
    best = [i for i in reversed(order) if i not in worst][: count // 2]
    chosen = [("largest disagreement", i) for i in worst] + [("agreement", i) for i in best]
    examples = []
    for group, index in chosen:
        example = _example(cohort, index, group, problems)
        if example is not None:
            examples.append(example)
    return tuple(examples)


def _example(
    cohort: PhotoCohort, index: int, group: str, problems: list[InputProblem]
) -> Example | None:
    record = cohort.records[index]
    stored = np.array([box.xyxy for box in record.boxes], np.float64).reshape(-1, 4)
    try:
        pixels = read_photo(cohort.source.image_path(record), stored)
    except InputError as error:
        problems.append(
            InputProblem(
                "warning",
                str(cohort.source.path),
                None,
                record.image,
                f"no example drawn: {error.reason}",
            )
        )
        return None
    names = {name: number for number, name in enumerate(cohort.categories)}
    truth_labels = np.array([names.get(box.category, -1) for box in record.boxes], np.int64)
    boxes, labels, scores = _model_boxes(cohort, index)
    photo = GalleryPhoto(
        rgb=pixels.rgb,
        title=record.image,
        boxes=boxes,
        labels=labels,
        scores=scores,
        truth=pixels.boxes,
        truth_labels=truth_labels,
    )
    picture = photo_picture(photo, cohort.categories)
    buffer = io.BytesIO()
    picture.convert("RGB").save(buffer, format="JPEG", quality=80)
    data = "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()
    return Example(group, record.image, _caption(cohort, index), data)


def _model_boxes(cohort: PhotoCohort, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A detector's confident boxes on the photo, labels and scores (none for a classifier)."""
    if cohort.detections is None:
        return np.zeros((0, 4)), np.zeros(0, np.int64), np.zeros(0)
    found = cohort.detections[index]
    keep = np.flatnonzero(found.scores >= MIN_SCORE)
    keep = keep[np.argsort(-found.scores[keep], kind="stable")][:MAX_BOXES]
    return found.boxes[keep], found.labels[keep], found.scores[keep]


def _caption(cohort: PhotoCohort, index: int) -> tuple[str, ...]:
    truth = [
        name for name, shown in zip(cohort.categories, cohort.truth[index], strict=True) if shown
    ]
    scores = cohort.scores[index]
    top = np.argsort(-scores, kind="stable")[:3]
    model = ", ".join(f"{cohort.categories[i]} {scores[i]:.2f}" for i in top)
    return (f"truth: {', '.join(truth) or 'no lesion'}", f"model: {model}")
