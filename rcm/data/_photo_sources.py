"""A photo dataset on disk: a COCO instances file or a Pascal VOC folder, with its images root.

Training, inference, evaluation and splitting all take a photo set as a
`PhotoSource`: the annotations read into one `PhotoDataset` plus the folder
the image paths are relative to. `read_photo_source` reads the files of
``rcm data photos`` and those of other tools (CVAT, Label Studio, Roboflow,
LabelImg: see `rcm.data._coco_read` and `rcm.data._voc_read`), holds every
photo against its image file, and names every problem at once.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from rcm.data._coco_read import load_json, parse_coco
from rcm.data._photo_dataset import PhotoDataset, PhotoProblem, PhotoRecord
from rcm.data._photo_drafts import DraftImage, raise_errors, to_dataset, with_headers, with_patients
from rcm.data._photo_images import inspect_images
from rcm.data._photo_patients import read_patients
from rcm.data._voc_read import parse_voc
from rcm.errors import InputError, bad_input

CONVERSION_NAME = "conversion.json"  # what `rcm data photos` writes beside its outputs
VOC_IMAGES = "JPEGImages"  # where VOC tools put the photos, beside Annotations/


@dataclass(frozen=True)
class PhotoSource:
    """Annotated photographs and where their files are.

    Attributes:
        path: The COCO file or the VOC folder the annotations came from.
        images_root: The folder image paths are relative to.
        dataset: The photographs, their patients and boxes.
        problems: The warnings found reading it (errors are raised instead).
        image_ids: Each photo's id by image path: its COCO id for a COCO file,
            else 1..N in path order (the default).

    """

    path: Path
    images_root: Path
    dataset: PhotoDataset
    problems: tuple[PhotoProblem, ...] = ()
    image_ids: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        ids = self.image_ids or {r.image: n for n, r in enumerate(self.dataset.images, start=1)}
        object.__setattr__(self, "image_ids", MappingProxyType(dict(ids)))
        object.__setattr__(self, "problems", tuple(self.problems))

    @property
    def kind(self) -> str:
        """``"voc"`` for a VOC folder, else ``"coco"``."""
        return "voc" if self.path.is_dir() else "coco"

    def image_path(self, record: PhotoRecord) -> Path:
        """The file of one photograph."""
        return self.images_root / record.image

    def image_id(self, record: PhotoRecord) -> int:
        """The photo's id (see `image_ids`)."""
        return self.image_ids[record.image]


@dataclass(frozen=True)
class _Conversion:
    """What an ``rcm data photos`` output folder records about its source."""

    images_root: Path | None
    categories: tuple[str, ...] | None


def read_photo_source(
    path: str | os.PathLike[str],
    images_root: str | os.PathLike[str] | None = None,
    patients: str | os.PathLike[str] | None = None,
    *,
    workers: int | None = None,
) -> PhotoSource:
    """Read a COCO instances file (``.json``) or a Pascal VOC folder, checked against its images.

    Every photo's file is opened (headers only): a missing or unreadable file,
    or a size other than the annotation file says, is an error. Boxes partly
    outside their image are clipped (a warning); photos with an EXIF
    orientation are a warning (boxes are in stored pixels).

    Args:
        path: A COCO file or a VOC root (the folder holding ``Annotations/``).
        images_root: The folder image paths are relative to. Default: the one
            recorded in ``conversion.json`` when `path` is (in) an
            ``rcm data photos`` output folder; else the COCO file's folder, or
            for VOC the ``JPEGImages`` folder beside ``Annotations`` (the VOC
            root when there is none).
        patients: A patients table (CSV: ``image,patient_id[,sex,age]``) for
            annotation files that carry no patient ids.
        workers: Threads that open image headers (default: up to 8).

    Raises:
        InputError: Naming the file and listing its problems (five, then how
            many more), or naming the images root or patients table at fault.

    """
    path = Path(path)
    if not path.exists():
        raise InputError(path, "photo annotations not found (a COCO .json file or a VOC folder)")
    is_voc = path.is_dir()
    recorded = _conversion(path if is_voc else path.parent)
    root = _images_root(path, is_voc, images_root, recorded)
    table = None if patients is None else read_patients(patients, root)
    categories, drafts, problems, ids = _parse(path, root, recorded)
    named, found = with_patients(drafts, table, None if patients is None else Path(patients).name)
    problems += found
    infos = inspect_images(root, [draft.image for draft in named], workers)
    checked, found = with_headers(named, infos)
    problems += found
    dataset, found = to_dataset(categories, checked)
    problems += found
    raise_errors(path, problems)
    warnings = tuple(p for p in problems if p.severity == "warning")
    return PhotoSource(
        path,
        root,
        dataset,
        warnings,
        {r.image: ids[r.image] for r in dataset.images} if ids else {},
    )


def _parse(
    path: Path, root: Path, recorded: _Conversion | None
) -> tuple[tuple[str, ...], tuple[DraftImage, ...], list[PhotoProblem], Mapping[str, int]]:
    """(categories, draft photos, problems, COCO ids by path) of a VOC folder or COCO file."""
    if path.is_dir():
        voc = parse_voc(path, root, recorded.categories if recorded else None)
        return voc.categories, voc.images, list(voc.problems), {}
    with bad_input(path, what="not a usable COCO photo document"):
        coco = parse_coco(load_json(path), root)
    return coco.categories, coco.images, list(coco.problems), coco.image_ids


def _images_root(
    path: Path,
    is_voc: bool,
    given: str | os.PathLike[str] | None,
    recorded: _Conversion | None,
) -> Path:
    if given is not None:
        root, origin = Path(given), ""
    elif recorded is not None and recorded.images_root is not None:
        folder = path if is_voc else path.parent
        root, origin = recorded.images_root, f" (recorded in {folder / CONVERSION_NAME})"
    elif is_voc:
        root, origin = (path / VOC_IMAGES if (path / VOC_IMAGES).is_dir() else path), ""
    else:
        root, origin = path.parent, ""
    if not root.is_dir():
        raise InputError(root, f"images root is not a folder{origin}; give the images root")
    return root


def _conversion(folder: Path) -> _Conversion | None:
    """The images root and category order an ``rcm data photos`` folder records, if it is one."""
    record = folder / CONVERSION_NAME
    if not record.is_file():
        return None
    document = load_json(record)
    if not isinstance(document, Mapping):
        raise InputError(record, "not a conversion record (not a JSON object)")
    columns = _mapping(_mapping(document.get("columns")).get("resolved"))
    options, csv = _mapping(document.get("options")), _mapping(document.get("csv"))
    # Older records lack images_root: the choice the command made, from what it recorded.
    chosen = document.get("images_root") or options.get("images_root") or columns.get("images_root")
    if not isinstance(chosen, str) and isinstance(csv.get("path"), str):
        chosen = str(Path(csv["path"]).parent)
    names = columns.get("categories")
    categories = (
        tuple(names) if isinstance(names, list) and all(isinstance(n, str) for n in names) else None
    )
    return _Conversion(Path(chosen) if isinstance(chosen, str) else None, categories)


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}
