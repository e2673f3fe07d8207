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

from rcm.data._photo_dataset import EXACT, PhotoBox, PhotoDataset, PhotoRecord
from rcm.data._photo_drafts import raise_errors, to_dataset, with_patients
from rcm.data._voc_read import VOC_FOLDER, parse_voc
from rcm.errors import InputError
from rcm.io import atomic_output

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
    """Read ``FOLDER/Annotations/**/*.xml`` exactly as written (see `rcm.data._voc_read`).

    For the folders `write_voc` writes, and any other with a patient id and a
    size in every file: nothing is changed, so a box outside its image is an
    error here (`read_photo_source` checks the image files and clips such boxes
    with a warning).

    Args:
        folder: The VOC root (the folder holding ``Annotations/``).
        categories: The category list in id order (VOC files do not store it);
            default the object names found, sorted.

    Raises:
        InputError: If there are no XML files, or naming every problem: files
            that cannot be parsed or lack a field, objects whose name is not in
            `categories`.

    """
    content = parse_voc(Path(folder), Path(folder), categories)
    drafts, problems = with_patients(content.images, None, None)
    dataset, found = to_dataset(content.categories, drafts)
    raise_errors(Path(folder) / VOC_FOLDER, [*content.problems, *problems, *found], strict=True)
    return dataset


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
    _add(element, "difficult", str(int(box.crowd)))  # a crowd box is an ignore region
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
