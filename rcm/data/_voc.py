"""Pascal VOC XML for clinical photographs, written and read back exactly.

One XML file per image under ``Annotations/``, at the image's path with
``.xml`` for its suffix (``Annotations/clinic1/img7.xml`` for
``clinic1/img7.jpg``), with the extra elements ``patient_id``, ``sex`` and
``age``. VOC boxes are 1-based inclusive pixel indices: a box covering pixel
columns 0..9 (continuous x from 0 to 10) is ``xmin 1, xmax 10``. So
``xmin = x + 1``, ``ymin = y + 1``, ``xmax = x + width``, ``ymax = y + height``,
and reading subtracts 1 from ``xmin`` and ``ymin`` only (as Detectron2's VOC
reader does). Fractional boxes follow the same rule.

Exactness: numbers are written in their shortest round-tripping form, with
decimal arithmetic for the +1 and the sums, and integral values as integers, so
CSV -> VOC -> `read_voc` gives back an equal `PhotoDataset`.
"""

from __future__ import annotations

import os
import posixpath
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path, PurePosixPath

from rcm.data._photo_dataset import EXACT, PhotoBox, PhotoDataset, PhotoRecord, decimal_number
from rcm.errors import InputError, bad_input
from rcm.io import atomic_output

VOC_FOLDER = "Annotations"
_ONE = Decimal(1)


def voc_files(dataset: PhotoDataset) -> dict[str, bytes]:
    """Each image's VOC XML, keyed by its path relative to ``Annotations/``.

    Raises:
        InputError: If two images would share an XML file (same path but for the
            suffix, or differing only in case, which some file systems ignore).

    """
    files: dict[str, bytes] = {}
    owners: dict[str, str] = {}
    for record in dataset.images:
        name = voc_name(record.image)
        other = owners.setdefault(name.casefold(), record.image)
        if other != record.image:
            raise InputError(
                None,
                f"images {other} and {record.image} would share the VOC file "
                f"{VOC_FOLDER}/{name}; rename one",
            )
        files[name] = _voc_xml(record)
    return files


def voc_name(image: str) -> str:
    """The XML file of an image, relative to ``Annotations/``: its path with ``.xml``."""
    return str(PurePosixPath(image).with_suffix(".xml"))


def write_voc(
    dataset: PhotoDataset, folder: str | os.PathLike[str], *, overwrite: bool = False
) -> Path:
    """Write ``FOLDER/Annotations/`` (one XML per image) atomically; return its path.

    Raises:
        OutputError: If ``Annotations/`` exists and `overwrite` is false.
        InputError: If two images would share an XML file.

    """
    files = voc_files(dataset)
    annotations = Path(folder) / VOC_FOLDER
    with atomic_output(annotations, overwrite=overwrite) as partial:
        partial.mkdir()
        for name, data in files.items():
            target = partial / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
    return annotations


def read_voc(
    folder: str | os.PathLike[str], categories: Sequence[str] | None = None
) -> PhotoDataset:
    """Read ``FOLDER/Annotations/**/*.xml``; an image's path is its XML's folder + filename.

    Args:
        folder: The VOC root (the folder holding ``Annotations/``).
        categories: The category list in id order (VOC files do not store it);
            default the object names found, sorted.

    Raises:
        InputError: If there are no XML files, one cannot be parsed or lacks a
            field, or an object's name is not in `categories`.

    """
    root = Path(folder) / VOC_FOLDER
    if not root.is_dir():
        raise InputError(folder, f"has no {VOC_FOLDER} folder (not a Pascal VOC folder)")
    paths = sorted(root.rglob("*.xml"))
    if not paths:
        raise InputError(root, "holds no .xml annotation files")
    records = [_read_voc_file(path, root) for path in paths]
    names = {box.category for record in records for box in record.boxes}
    known = tuple(sorted(names)) if categories is None else tuple(categories)
    unknown = sorted(names - set(known))
    if unknown:
        raise InputError(root, f"object name(s) {', '.join(unknown)} not in the category list")
    with bad_input(root):
        return PhotoDataset(known, tuple(records))


def _voc_xml(record: PhotoRecord) -> bytes:
    root = ET.Element("annotation")
    _add(root, "folder", posixpath.dirname(record.image) or ".")
    _add(root, "filename", posixpath.basename(record.image))
    size = ET.SubElement(root, "size")
    _add(size, "width", str(record.width))
    _add(size, "height", str(record.height))
    _add(size, "depth", str(record.depth))
    _add(root, "segmented", "0")
    _add(root, "patient_id", record.patient_id)
    if record.sex is not None:
        _add(root, "sex", record.sex)
    if record.age is not None:
        _add(root, "age", _decimal_text(_decimal(record.age)))
    for box in record.boxes:
        _voc_object(root, box)
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def _voc_object(root: ET.Element, box: PhotoBox) -> None:
    """One ``<object>``, with the 1-based inclusive bndbox (see the module docstring)."""
    element = ET.SubElement(root, "object")
    _add(element, "name", box.category)
    _add(element, "pose", "Unspecified")
    _add(element, "truncated", "0")
    _add(element, "difficult", "0")
    bndbox = ET.SubElement(element, "bndbox")
    x, y = _decimal(box.x), _decimal(box.y)
    corners = {
        "xmin": EXACT.add(x, _ONE),
        "ymin": EXACT.add(y, _ONE),
        "xmax": EXACT.add(x, _decimal(box.width)),
        "ymax": EXACT.add(y, _decimal(box.height)),
    }
    for tag, value in corners.items():
        _add(bndbox, tag, _decimal_text(value))


def _add(parent: ET.Element, tag: str, text: str) -> None:
    ET.SubElement(parent, tag).text = text


def _decimal(value: float) -> Decimal:
    """The shortest decimal that reads back as `value` (what ``repr`` prints)."""
    return Decimal(repr(value))


def _decimal_text(value: Decimal) -> str:
    """Plain notation without trailing zeros: ``13``, ``12.5``, never ``1.3E+1``."""
    return format(value.normalize(EXACT), "f")


def _read_voc_file(path: Path, root: Path) -> PhotoRecord:
    try:
        data = path.read_bytes()
    except OSError as error:
        raise InputError(path, f"cannot read: {error.strerror or error}") from error
    # Entity expansion is the one XML attack on a parser that fetches nothing: refuse DTDs.
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise InputError(path, "XML with a DOCTYPE or entities is not accepted")
    try:
        element = ET.fromstring(data)
        folder = path.parent.relative_to(root).as_posix()
        return _voc_record(element, "" if folder == "." else folder)
    except ET.ParseError as error:
        raise InputError(path, f"not well-formed XML ({error})") from error
    except ValueError as error:
        raise InputError(path, f"not a usable VOC annotation: {error}") from error


def _voc_record(element: ET.Element, folder: str) -> PhotoRecord:
    if element.tag != "annotation":
        raise ValueError(f"the root element is <{element.tag}>, not <annotation>")
    sex, age = element.findtext("sex"), element.findtext("age")
    depth = element.findtext("size/depth")
    boxes = tuple(_voc_box(obj, n) for n, obj in enumerate(element.findall("object"), start=1))
    return PhotoRecord(
        posixpath.normpath(posixpath.join(folder, _field(element, "filename"))),
        _whole(_field(element, "size/width"), "width"),
        _whole(_field(element, "size/height"), "height"),
        3 if depth is None else _whole(depth, "depth"),
        _field(element, "patient_id"),
        None if sex is None else sex.strip(),
        None if age is None else float(decimal_number(age, "age")),
        boxes,
    )


def _voc_box(element: ET.Element, number: int) -> PhotoBox:
    """Back from 1-based inclusive corners to top-left corner and size."""
    xmin, ymin, xmax, ymax = (
        decimal_number(_field(element, f"bndbox/{tag}"), tag)
        for tag in ("xmin", "ymin", "xmax", "ymax")
    )
    try:
        return PhotoBox(
            _field(element, "name"),
            float(EXACT.subtract(xmin, _ONE)),
            float(EXACT.subtract(ymin, _ONE)),
            float(EXACT.add(EXACT.subtract(xmax, xmin), _ONE)),
            float(EXACT.add(EXACT.subtract(ymax, ymin), _ONE)),
        )
    except ValueError as error:
        raise ValueError(f"object {number}: {error} (VOC corners are 1-based)") from error


def _field(element: ET.Element, path: str) -> str:
    text = element.findtext(path)
    if text is None or not text.strip():
        raise ValueError(f"missing or empty <{path}>")
    return text.strip()


def _whole(text: str, what: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise ValueError(f"{what} {text!r} is not a whole number") from None
