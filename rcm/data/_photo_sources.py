"""A photo dataset on disk: a COCO instances file or a Pascal VOC folder, with its images root.

Training, inference and evaluation all take a photo set as `PhotoSource`:
the annotations read into one `PhotoDataset` plus the folder the image paths
are relative to.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from rcm.data._coco import from_coco
from rcm.data._photo_dataset import PhotoDataset, PhotoRecord
from rcm.data._voc import read_voc
from rcm.errors import InputError


@dataclass(frozen=True)
class PhotoSource:
    """Annotated photographs and where their files are.

    Attributes:
        path: The COCO file or the VOC folder the annotations came from.
        images_root: The folder image paths are relative to.
        dataset: The photographs, their patients and boxes.

    """

    path: Path
    images_root: Path
    dataset: PhotoDataset

    def image_path(self, record: PhotoRecord) -> Path:
        """The file of one photograph."""
        return self.images_root / record.image


def read_photo_source(
    path: str | os.PathLike[str], images_root: str | os.PathLike[str] | None = None
) -> PhotoSource:
    """Read a COCO instances file (``.json``) or a Pascal VOC folder.

    Args:
        path: ``annotations.coco.json`` (or any COCO instances file) or a VOC root.
        images_root: The folder image paths are relative to; default the
            annotation file's folder (the VOC root for VOC).

    Raises:
        InputError: Naming the file and the problem.

    """
    path = Path(path)
    if path.is_dir():
        dataset = read_voc(path)
        default_root = path
    elif path.is_file():
        dataset = from_coco(path)
        default_root = path.parent
    else:
        raise InputError(path, "photo annotations not found (a COCO .json file or a VOC folder)")
    root = Path(images_root) if images_root is not None else default_root
    return PhotoSource(path, root, dataset)
