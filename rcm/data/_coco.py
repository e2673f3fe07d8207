"""COCO JSON for clinical photographs, written and read back exactly.

One JSON file. Images carry ``id``, ``file_name`` (relative to the images
root), ``width``, ``height`` and the extra keys ``depth``, ``patient_id``,
``sex`` and ``age`` (null when not recorded); categories have ids 1..N in the
dataset's order; annotations have ``bbox`` ``[x, y, width, height]`` in
continuous pixels, ``area`` and ``iscrowd`` 0. Ids follow the image order (sorted
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

from rcm.data._photo_dataset import PhotoBox, PhotoDataset, PhotoRecord
from rcm.errors import InputError
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
                    "iscrowd": 0,
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
    """Read a COCO document (a file, or one already loaded) written by `to_coco`.

    Images need ``patient_id``; ``sex``, ``age`` and ``depth`` (default 3) are
    optional. Categories are taken in id order.

    Raises:
        InputError: If the file cannot be read or is not a usable COCO photo document.

    """
    where = None if isinstance(source, Mapping) else Path(source)
    document = source if isinstance(source, Mapping) else _load_json(Path(source))
    try:
        return _dataset_from_coco(document)
    except ValueError as error:
        raise InputError(where, f"not a usable COCO photo document: {error}") from error


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


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_bytes())
    except OSError as error:
        raise InputError(path, f"cannot read: {error.strerror or error}") from error
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise InputError(path, f"not JSON ({error})") from error


def _dataset_from_coco(document: Any) -> PhotoDataset:
    categories = _coco_categories(_entries(document, "categories"))
    boxes: dict[int, list[PhotoBox]] = {}
    for number, annotation in enumerate(_entries(document, "annotations")):
        what = f"annotation {annotation.get('id', number)}"
        category_id = _integer(annotation, "category_id", what)
        if category_id not in categories:
            raise ValueError(f"{what}: unknown category_id {category_id}")
        x, y, width, height = _bbox(annotation, what)
        box = _box(categories[category_id], x, y, width, height, what)
        boxes.setdefault(_integer(annotation, "image_id", what), []).append(box)
    records = []
    for image in _entries(document, "images"):
        image_id = _integer(image, "id", "an image")
        records.append(_coco_record(image, tuple(boxes.pop(image_id, ()))))
    if boxes:
        raise ValueError(f"annotations refer to unknown image id(s) {sorted(boxes)[:5]}")
    return PhotoDataset(tuple(categories.values()), tuple(records))


def _entries(document: Any, key: str) -> list[Mapping[str, Any]]:
    if not isinstance(document, Mapping):
        raise ValueError("the document is not a JSON object")
    entries = document.get(key)
    if not isinstance(entries, list) or not all(isinstance(e, Mapping) for e in entries):
        raise ValueError(f"{key!r} must be a list of objects")
    return entries


def _coco_categories(entries: list[Mapping[str, Any]]) -> dict[int, str]:
    found: dict[int, str] = {}
    for entry in entries:
        number = _integer(entry, "id", "a category")
        name = entry.get("name")
        if not isinstance(name, str) or number in found:
            raise ValueError(f"category {number}: a unique id and a name string are needed")
        found[number] = name
    return dict(sorted(found.items()))


def _coco_record(image: Mapping[str, Any], boxes: tuple[PhotoBox, ...]) -> PhotoRecord:
    what = f"image {image.get('id')}"
    file_name, patient_id = image.get("file_name"), image.get("patient_id")
    sex, age = image.get("sex"), image.get("age")
    if not isinstance(file_name, str) or not isinstance(patient_id, str):
        raise ValueError(f"{what}: file_name and patient_id must be strings")
    if not (sex is None or isinstance(sex, str)) or not (age is None or _is_number(age)):
        raise ValueError(f"{what}: sex must be a string or null, age a number or null")
    depth = _integer(image, "depth", what) if "depth" in image else 3
    try:
        return PhotoRecord(
            file_name,
            _integer(image, "width", what),
            _integer(image, "height", what),
            depth,
            patient_id,
            sex,
            None if age is None else float(age),
            boxes,
        )
    except ValueError as error:
        raise ValueError(f"{what}: {error}") from error


def _bbox(annotation: Mapping[str, Any], what: str) -> list[float]:
    bbox = annotation.get("bbox")
    if not isinstance(bbox, list) or len(bbox) != 4 or not all(_is_number(v) for v in bbox):
        raise ValueError(f"{what}: bbox must be 4 numbers [x, y, width, height]")
    return [float(value) for value in bbox]


def _integer(entry: Mapping[str, Any], key: str, what: str) -> int:
    value = entry.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{what}: {key} must be an integer, got {value!r}")
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _box(category: str, x: float, y: float, width: float, height: float, what: str) -> PhotoBox:
    try:
        return PhotoBox(category, x, y, width, height)
    except ValueError as error:
        raise ValueError(f"{what}: {error}") from error
