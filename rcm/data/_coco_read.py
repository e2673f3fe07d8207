"""COCO instances files as any tool writes them, parsed into draft photos with every problem named.

Tolerated: keys rcm does not use, anywhere (``info``, ``licenses``,
``coco_url``, ``segmentation``, ``attributes``, ...), category ids in any
order and numbering (0-based, sparse: categories are taken in id order),
images without a patient (the patients come from a table then), a missing
``annotations`` list (no boxes). ``iscrowd`` 1 makes a crowd box (an ignore
region). Everything else that is wrong is a `PhotoProblem`, and the other
entries are still parsed, so one pass names every problem.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rcm.data._photo_dataset import MAX_AGE, PhotoProblem, check_text
from rcm.data._photo_drafts import DraftBox, DraftImage, Patient, problem
from rcm.data._photo_rows import normal_image_path
from rcm.errors import InputError


@dataclass(frozen=True)
class CocoContent:
    """What a COCO file holds, before its photos are checked against their files.

    Attributes:
        categories: Category names in id order.
        images: The photos that parsed, with their boxes, in file order.
        image_ids: Each photo's COCO id, by image path.
        problems: Everything wrong, in file order.

    """

    categories: tuple[str, ...]
    images: tuple[DraftImage, ...]
    image_ids: Mapping[str, int]
    problems: tuple[PhotoProblem, ...]


def load_json(path: Path) -> Any:
    """The JSON document in `path`.

    Raises:
        InputError: If the file cannot be read or is not JSON.

    """
    try:
        return json.loads(path.read_bytes())
    except OSError as error:
        raise InputError(path, f"cannot read: {error.strerror or error}") from error
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise InputError(path, f"not JSON ({error})") from error
    except RecursionError:
        raise InputError(path, "JSON nested too deeply") from None


def parse_coco(document: Any, root: Path) -> CocoContent:
    """Parse a COCO document; `root` is the images root (absolute file names must be in it).

    Raises:
        ValueError: If the document is not a JSON object with lists of objects
            under ``images`` and ``categories`` (and ``annotations``, when present).

    """
    if not isinstance(document, Mapping):
        raise ValueError("the document is not a JSON object")
    problems: list[PhotoProblem] = []
    categories = _categories(_entries(document, "categories"), problems)
    images, ids, known = _images(_entries(document, "images"), root, problems)
    by_id = {ids[image.image]: image for image in images}
    boxes: dict[int, list[DraftBox]] = {number: [] for number in by_id}
    annotations = _entries(document, "annotations") if "annotations" in document else []
    for number, annotation in enumerate(annotations):
        parsed = _annotation(annotation, number, categories, known, by_id, problems)
        if parsed is not None:
            boxes[parsed[0]].append(parsed[1])
    drafts = tuple(
        DraftImage(d.image, d.where, d.width, d.height, d.depth, d.patient, tuple(boxes[i]))
        for i, d in by_id.items()
    )
    names = tuple(name for _, name in sorted(categories.items()))
    return CocoContent(names, drafts, ids, tuple(problems))


def _entries(document: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    entries = document.get(key)
    if not isinstance(entries, list) or not all(isinstance(e, Mapping) for e in entries):
        raise ValueError(f"{key!r} must be a list of objects")
    return entries


def _categories(entries: list[Mapping[str, Any]], problems: list[PhotoProblem]) -> dict[int, str]:
    found: dict[int, str] = {}
    for number, entry in enumerate(entries):
        where = f"category entry {number}"
        try:
            category_id = _integer(entry, "id")
            where = f"category id {category_id}"
            name = entry.get("name")
            if not isinstance(name, str):
                raise ValueError(f"name must be a string, got {name!r}")
            check_text(name, "a category name")
            if category_id in found:
                raise ValueError(f"id given twice ({found[category_id]!r} and {name!r})")
            if name in found.values():
                raise ValueError(f"name {name!r} given to two ids")
        except ValueError as error:
            problems.append(problem("error", "", where, str(error)))
            continue
        found[category_id] = name
    if not entries:
        problems.append(problem("error", "", "categories", "none listed"))
    return found


def _images(
    entries: list[Mapping[str, Any]], root: Path, problems: list[PhotoProblem]
) -> tuple[list[DraftImage], dict[str, int], set[int]]:
    """The photos that parsed, their ids by path, and every id seen (for the annotations)."""
    drafts: list[DraftImage] = []
    ids: dict[str, int] = {}
    seen: dict[int, str] = {}
    for number, entry in enumerate(entries):
        file_name = entry.get("file_name")
        shown = file_name if isinstance(file_name, str) else ""
        try:
            image_id = _integer(entry, "id")
        except ValueError as error:
            problems.append(problem("error", shown, f"image entry {number}", str(error)))
            continue
        where = f"image id {image_id}"
        if image_id in seen:
            message = f"duplicate image id (also {seen[image_id] or 'an earlier entry'})"
            problems.append(problem("error", shown, where, message))
            continue
        seen[image_id] = shown
        try:
            draft = _image(entry, where, root)
        except ValueError as error:
            problems.append(problem("error", shown, where, str(error)))
            continue
        if draft.image in ids:
            message = f"the same photo as image id {ids[draft.image]}"
            problems.append(problem("error", draft.image, where, message))
            continue
        ids[draft.image] = image_id
        drafts.append(draft)
    return drafts, ids, set(seen)


def _image(entry: Mapping[str, Any], where: str, root: Path) -> DraftImage:
    file_name = entry.get("file_name")
    if not isinstance(file_name, str):
        raise ValueError(f"file_name must be a string, got {file_name!r}")
    return DraftImage(
        normal_image_path(file_name, root),
        where,
        _size(entry, "width"),
        _size(entry, "height"),
        _size(entry, "depth"),
        _patient(entry),
    )


def _size(entry: Mapping[str, Any], key: str) -> int | None:
    """A whole number of pixels >= 1 (``640.0`` too, as some tools write), or None."""
    value = entry.get(key)
    if value is None:
        return None
    if not _is_number(value) or not math.isfinite(value) or value < 1 or value != int(value):
        raise ValueError(f"{key} must be a whole number >= 1, got {value!r}")
    return int(value)


def _patient(entry: Mapping[str, Any]) -> Patient | None:
    patient_id, sex, age = (entry.get(key) for key in ("patient_id", "sex", "age"))
    if isinstance(patient_id, int) and not isinstance(patient_id, bool):
        patient_id = str(patient_id)  # some tools write numeric ids as numbers
    if patient_id is None or patient_id == "":
        return None
    if not isinstance(patient_id, str):
        raise ValueError(f"patient_id must be a string, got {patient_id!r}")
    check_text(patient_id, "a patient id")
    if sex == "":
        sex = None
    if not (sex is None or isinstance(sex, str)):
        raise ValueError(f"sex must be a string or null, got {sex!r}")
    if sex is not None:
        check_text(sex, "a sex")
    if age is not None and not (_is_number(age) and 0 <= age <= MAX_AGE):
        raise ValueError(f"age must be a number of years 0..{MAX_AGE} or null, got {age!r}")
    return Patient(patient_id, sex, None if age is None else float(age))


def _annotation(
    entry: Mapping[str, Any],
    number: int,
    categories: Mapping[int, str],
    known: set[int],
    images: Mapping[int, DraftImage],
    problems: list[PhotoProblem],
) -> tuple[int, DraftBox] | None:
    """(image id, box), or None after naming the problem."""
    given = entry.get("id")
    where = f"annotation {given}" if _is_number(given) else f"annotation entry {number}"
    image_id = entry.get("image_id")
    image = images.get(image_id) if isinstance(image_id, int) else None
    shown = image.image if image is not None else ""
    try:
        if not isinstance(image_id, int) or isinstance(image_id, bool):
            raise ValueError(f"image_id must be an integer, got {image_id!r}")
        if image_id not in known:
            raise ValueError(f"on unknown image id {image_id}")
        box = _box(entry, where, categories)
    except ValueError as error:
        problems.append(problem("error", shown, where, str(error)))
        return None
    return (image_id, box) if image is not None else None  # its image has its own problem


def _box(entry: Mapping[str, Any], where: str, categories: Mapping[int, str]) -> DraftBox:
    category_id = entry.get("category_id")
    if not isinstance(category_id, int) or isinstance(category_id, bool):
        raise ValueError(f"category_id must be an integer, got {category_id!r}")
    if category_id not in categories:
        known = ", ".join(str(c) for c in sorted(categories)) or "none"
        raise ValueError(f"unknown category id {category_id} (categories: {known})")
    bbox = entry.get("bbox")
    if (
        not isinstance(bbox, list)
        or len(bbox) != 4
        or not all(_is_number(v) and math.isfinite(v) for v in bbox)
    ):
        raise ValueError(f"bbox must be 4 finite numbers [x, y, width, height], got {bbox!r}")
    x, y, width, height = (float(v) for v in bbox)
    if width <= 0 or height <= 0:
        raise ValueError(f"bbox {bbox} has zero or negative width or height")
    crowd = entry.get("iscrowd", 0)
    if crowd not in (0, 1) or not isinstance(crowd, int | float):  # True, 1.0 are 1 too
        raise ValueError(f"iscrowd must be 0 or 1, got {crowd!r}")
    return DraftBox(categories[category_id], x, y, width, height, bool(crowd), where)


def _integer(entry: Mapping[str, Any], key: str) -> int:
    value = entry.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{key} must be an integer, got {value!r}")
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
