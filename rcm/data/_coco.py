"""COCO JSON for clinical photographs, written and read back exactly.

One JSON file. Images carry ``id``, ``file_name`` (relative to the images
root), ``width``, ``height`` and the extra keys ``depth``, ``patient_id``,
``sex`` and ``age`` (null when not recorded); categories have ids 1..N in the
dataset's order; annotations have ``bbox`` ``[x, y, width, height]`` in
continuous pixels, ``area`` and ``iscrowd`` (1 for a crowd box). Ids follow the image order (sorted
by path) and the box order within each image, so the same dataset always gives
the same bytes.

Exactness: floats are written with their shortest round-tripping form (JSON does
that) and integral values as integers, so CSV -> COCO -> `from_coco` gives back
an equal `PhotoDataset`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rcm.data._coco_read import load_json, parse_coco
from rcm.data._photo_dataset import PhotoDataset, PhotoRecord
from rcm.data._photo_drafts import raise_errors, to_dataset, with_patients
from rcm.errors import bad_input
from rcm.io import atomic_output

COCO_NAME = "annotations.coco.json"
SUPERCATEGORY = "lesion"


def to_coco(dataset: PhotoDataset) -> dict[str, Any]:
    """The dataset as a COCO detection document (deterministic ids and order)."""
    category_ids = {name: number for number, name in enumerate(dataset.categories, start=1)}
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for image_id, record in enumerate(dataset.images, start=1):
        images.append(_coco_image(image_id, record))
        for box in record.boxes:
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": category_ids[box.category],
                    "bbox": [_json_number(v) for v in (box.x, box.y, box.width, box.height)],
                    "area": _json_number(box.width * box.height),
                    "iscrowd": int(box.crowd),
                }
            )
    return {
        "info": {"description": "clinical photographs with expert lesion boxes (rcm)"},
        "licenses": [],
        "images": images,
        "annotations": annotations,
        "categories": [
            {"id": number, "name": name, "supercategory": SUPERCATEGORY}
            for name, number in category_ids.items()
        ],
    }


def coco_bytes(dataset: PhotoDataset) -> bytes:
    """`to_coco` as UTF-8 JSON text, the bytes `write_coco` writes."""
    return (json.dumps(to_coco(dataset), indent=2, ensure_ascii=False) + "\n").encode()


def write_coco(
    dataset: PhotoDataset, path: str | os.PathLike[str], *, overwrite: bool = False
) -> Path:
    """Write the COCO file atomically.

    Raises:
        OutputError: If `path` exists and `overwrite` is false, or cannot be written.

    """
    with atomic_output(path, overwrite=overwrite) as partial:
        partial.write_bytes(coco_bytes(dataset))
    return Path(path)


def from_coco(source: str | os.PathLike[str] | Mapping[str, Any]) -> PhotoDataset:
    """Read a COCO document (a file, or one already loaded) exactly as written.

    For the files `write_coco` writes, and any other with a patient id on every
    image: nothing is changed, so a box outside its image's stated size is an
    error here (`read_photo_source` checks the image files and clips such boxes
    with a warning). Categories are taken in id order; ``depth`` defaults to 3.

    Raises:
        InputError: If the file cannot be read, or naming every problem of a
            document that is not a usable COCO photo document.

    """
    where = None if isinstance(source, Mapping) else Path(source)
    document = source if isinstance(source, Mapping) else load_json(Path(source))
    root = Path() if where is None else where.parent
    with bad_input(where, what="not a usable COCO photo document"):
        content = parse_coco(document, root)
    drafts, problems = with_patients(content.images, None, None)
    dataset, found = to_dataset(content.categories, drafts)
    raise_errors(where, [*content.problems, *problems, *found], strict=True)
    return dataset


def _coco_image(image_id: int, record: PhotoRecord) -> dict[str, Any]:
    return {
        "id": image_id,
        "file_name": record.image,
        "width": record.width,
        "height": record.height,
        "depth": record.depth,
        "patient_id": record.patient_id,
        "sex": record.sex,
        "age": None if record.age is None else _json_number(record.age),
    }


def _json_number(value: float) -> int | float:
    """Integral values as JSON integers; others keep Python's shortest exact repr."""
    return int(value) if value.is_integer() else value
