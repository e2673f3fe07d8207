"""Datasets: synthetic mosaics, training manifests, tile and window labels, photos, splits.

Light modules are imported here; the torch datasets (tiles, windows) are imported
on first use (PEP 562), so commands that never train do not pay for torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rcm._lazy import lazy_attributes
from rcm.data._coco import from_coco, to_coco, write_coco
from rcm.data._labelled import LabelledMosaic, read_labelled_mosaics
from rcm.data._photos import (
    PhotoBox,
    PhotoColumns,
    PhotoDataset,
    PhotoProblem,
    PhotoRecord,
    load_photo_columns,
    read_photo_csv,
)
from rcm.data._splits import Split, check_split_covers, read_split, split_by_patient, write_split
from rcm.data._synthetic_cohort import write_synthetic_cohort
from rcm.data._voc import read_voc, write_voc
from rcm.data.synthetic import LESION_CLASSES, SyntheticSpec, make_spec, write_synthetic

if TYPE_CHECKING:
    from rcm.data._tiles import TileDataset, TileLabelRule, TileTable, label_tiles
    from rcm.data._window_dataset import WindowDataset
    from rcm.data._window_targets import WindowTarget, window_target

_HOME = {
    "TileDataset": "_tiles",
    "TileLabelRule": "_tiles",
    "TileTable": "_tiles",
    "label_tiles": "_tiles",
    "WindowDataset": "_window_dataset",
    "WindowTarget": "_window_targets",
    "window_target": "_window_targets",
}

__all__ = [
    "LESION_CLASSES",
    "LabelledMosaic",
    "PhotoBox",
    "PhotoColumns",
    "PhotoDataset",
    "PhotoProblem",
    "PhotoRecord",
    "Split",
    "SyntheticSpec",
    "TileDataset",
    "TileLabelRule",
    "TileTable",
    "WindowDataset",
    "WindowTarget",
    "check_split_covers",
    "from_coco",
    "label_tiles",
    "load_photo_columns",
    "make_spec",
    "read_labelled_mosaics",
    "read_photo_csv",
    "read_split",
    "read_voc",
    "split_by_patient",
    "to_coco",
    "window_target",
    "write_coco",
    "write_split",
    "write_synthetic",
    "write_synthetic_cohort",
    "write_voc",
]


__getattr__ = lazy_attributes(__name__, _HOME)
