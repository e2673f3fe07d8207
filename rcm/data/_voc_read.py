"""Pascal VOC folders as any tool writes them, parsed into draft photos with every problem named.

``FOLDER/Annotations/**/*.xml``, one file per photo, as rcm, LabelImg or CVAT
write them. An image's path (relative to the images root) is its ``filename``
joined to the XML's folder under ``Annotations/``, or the ``filename`` alone
when it holds a folder itself. Elements rcm does not use are ignored
(``folder``, ``path``, ``source``, ``segmented``, ``pose``, ``truncated``,
``occluded``, ``attributes``, ...). ``difficult`` 1 makes a crowd box (an
ignore region). ``size`` may be missing or 0 (taken from the image file then).
The patient elements (``patient_id``, ``sex``, ``age``) are rcm's; files of
other tools get their patients from a patients table.

Boxes are 1-based inclusive pixel indices (see `rcm.data._voc`):
``x = xmin - 1``, ``width = xmax - xmin + 1``.
"""

from __future__ import annotations

import posixpath
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from rcm.data._photo_dataset import EXACT, MAX_AGE, PhotoProblem, check_text, decimal_number
from rcm.data._photo_drafts import DraftBox, DraftImage, Patient, problem
from rcm.data._photo_rows import normal_image_path
from rcm.errors import InputError

VOC_FOLDER = "Annotations"
_ONE = Decimal(1)
_FLAGS = {"0": False, "1": True}


@dataclass(frozen=True)
class VocContent:
    """What a VOC folder holds, before its photos are checked against their files.

    Attributes:
        categories: The category list given, else the object names found, sorted.
        images: The photos that parsed, with their boxes, in XML path order.
        problems: Everything wrong, in XML path order.

    """

    categories: tuple[str, ...]
    images: tuple[DraftImage, ...]
    problems: tuple[PhotoProblem, ...]


def parse_voc(folder: Path, root: Path, categories: Sequence[str] | None) -> VocContent:
    """Parse ``folder/Annotations``; `root` is the images root (for absolute file names).

    Raises:
        InputError: If there is no ``Annotations`` folder or it holds no XML file.

    """
    annotations = folder / VOC_FOLDER
    if not annotations.is_dir():
        raise InputError(folder, f"has no {VOC_FOLDER} folder (not a Pascal VOC folder)")
    paths = sorted(annotations.rglob("*.xml"))
    if not paths:
        raise InputError(annotations, "holds no .xml annotation files")
    problems: list[PhotoProblem] = []
    drafts: list[DraftImage] = []
    for path in paths:
        where = path.relative_to(folder).as_posix()
        try:
            drafts.append(_read_file(path, annotations, root, where, problems))
        except ValueError as error:
            problems.append(problem("error", "", where, str(error)))
    names = sorted({box.category for draft in drafts for box in draft.boxes})
    known = tuple(names) if categories is None else tuple(categories)
    drafts = [_known_boxes(draft, set(known), problems) for draft in drafts]
    return VocContent(known, tuple(drafts), tuple(problems))


def _known_boxes(draft: DraftImage, known: set[str], problems: list[PhotoProblem]) -> DraftImage:
    kept = []
    for box in draft.boxes:
        if box.category in known:
            kept.append(box)
        else:
            message = f"unknown category {box.category!r} (not in the category list)"
            problems.append(problem("error", draft.image, box.where, message))
    return DraftImage(
        draft.image, draft.where, draft.width, draft.height, draft.depth, draft.patient, tuple(kept)
    )


def _read_file(
    path: Path, annotations: Path, root: Path, where: str, problems: list[PhotoProblem]
) -> DraftImage:
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ValueError(f"cannot read: {error.strerror or error}") from error
    # Entity expansion is the one XML attack on a parser that fetches nothing: refuse DTDs.
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise ValueError("XML with a DOCTYPE or entities is not accepted")
    try:
        element = ET.fromstring(data)
    except ET.ParseError as error:
        raise ValueError(f"not well-formed XML ({error})") from error
    if element.tag != "annotation":
        raise ValueError(f"the root element is <{element.tag}>, not <annotation>")
    filename = _field(element, "filename")
    folder = path.parent.relative_to(annotations).as_posix()
    joined = filename if "/" in filename or "\\" in filename else posixpath.join(folder, filename)
    image = normal_image_path(joined, root)
    boxes = []
    for number, obj in enumerate(element.findall("object"), start=1):
        box_where = f"{where} object {number}"
        try:
            boxes.append(_box(obj, box_where))
        except ValueError as error:
            problems.append(problem("error", image, box_where, str(error)))
    return DraftImage(
        image,
        where,
        _size(element, "width"),
        _size(element, "height"),
        _size(element, "depth"),
        _patient(element),
        tuple(boxes),
    )


def _size(element: ET.Element, tag: str) -> int | None:
    """A whole number of pixels, or None when missing, empty or 0 (not known to the tool)."""
    text = (element.findtext(f"size/{tag}") or "").strip()
    if not text:
        return None
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"<size/{tag}> {text!r} is not a whole number") from None
    if value < 0:
        raise ValueError(f"<size/{tag}> {text!r} is negative")
    return value or None


def _patient(element: ET.Element) -> Patient | None:
    patient_id = (element.findtext("patient_id") or "").strip()
    if not patient_id:
        return None
    check_text(patient_id, "a patient id")
    sex = (element.findtext("sex") or "").strip() or None
    age_text = (element.findtext("age") or "").strip()
    age = None if not age_text else float(decimal_number(age_text, "age"))
    if age is not None and not 0 <= age <= MAX_AGE:
        raise ValueError(f"<age> {age_text!r} is not 0..{MAX_AGE} years")
    return Patient(patient_id, sex, age)


def _box(element: ET.Element, where: str) -> DraftBox:
    """Back from 1-based inclusive corners to top-left corner and size."""
    name = _field(element, "name")
    check_text(name, "a category name")
    xmin, ymin, xmax, ymax = (
        decimal_number(_field(element, f"bndbox/{tag}"), tag)
        for tag in ("xmin", "ymin", "xmax", "ymax")
    )
    width = EXACT.add(EXACT.subtract(xmax, xmin), _ONE)
    height = EXACT.add(EXACT.subtract(ymax, ymin), _ONE)
    if width <= 0 or height <= 0:
        raise ValueError(
            f"bndbox [{xmin}, {ymin}, {xmax}, {ymax}] has zero or negative size "
            "(VOC corners are 1-based inclusive: xmax >= xmin)"
        )
    difficult = (element.findtext("difficult") or "0").strip()
    if difficult not in _FLAGS:
        raise ValueError(f"<difficult> must be 0 or 1, got {difficult!r}")
    return DraftBox(
        name,
        float(EXACT.subtract(xmin, _ONE)),
        float(EXACT.subtract(ymin, _ONE)),
        float(width),
        float(height),
        _FLAGS[difficult],
        where,
    )


def _field(element: ET.Element, path: str) -> str:
    text = element.findtext(path)
    if text is None or not text.strip():
        raise ValueError(f"missing or empty <{path}>")
    return text.strip()
