"""Datasets: synthetic mosaics and photos, training manifests, tile and window labels, splits.

Light modules are imported here; the torch datasets (tiles, windows) are imported
on first use (PEP 562), so commands that never train do not pay for torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rcm._lazy import lazy_attributes
from rcm.data._coco import COCO_NAME, from_coco, to_coco, write_coco
from rcm.data._labelled import (
    NEGATIVE_LABELS,
    POSITIVE_LABELS,
    LabelledMosaic,
    read_labelled_mosaics,
)
from rcm.data._lesion_masks import LesionShares, lesion_shares, open_lesion_mask
from rcm.data._photo_load import (
    MAX_PHOTO_PIXELS,
    PHOTO_FITS,
    PhotoFit,
    PhotoPixels,
    fit_photo,
    orient_boxes,
    read_photo,
)
from rcm.data._photo_sources import CONVERSION_NAME, PhotoSource, read_photo_source
from rcm.data._photos import (
    PhotoBox,
    PhotoColumns,
    PhotoDataset,
    PhotoProblem,
    PhotoRecord,
    count_problems,
    format_problems,
    load_photo_columns,
    photo_counts,
    photo_summary,
    read_photo_csv,
    write_problems,
)
from rcm.data._problems import listing
from rcm.data._splits import (
    DEFAULT_FRACTIONS,
    Split,
    check_split_covers,
    read_split,
    split_by_patient,
    write_split,
)
from rcm.data._synth_photo_looks import PHOTO_CATEGORIES
from rcm.data._synth_photos import SyntheticPhotos, write_synthetic_photos
from rcm.data._synthetic_cohort import write_synthetic_cohort
from rcm.data._table import read_csv_table
from rcm.data._voc import read_voc, voc_files, write_voc
from rcm.data.synthetic import LESION_CLASSES, SyntheticSpec, make_spec, write_synthetic

if TYPE_CHECKING:
    from rcm.data._tiles import BENIGN, LESION, TileDataset, TileLabelRule, TileLabels, label_tiles
    from rcm.data._window_dataset import Sample, WindowDataset
    from rcm.data._window_targets import WindowTarget, window_target

_HOME = {
    "BENIGN": "_tiles",
    "LESION": "_tiles",
    "TileDataset": "_tiles",
    "TileLabelRule": "_tiles",
    "TileLabels": "_tiles",
    "label_tiles": "_tiles",
    "Sample": "_window_dataset",
    "WindowDataset": "_window_dataset",
    "WindowTarget": "_window_targets",
    "window_target": "_window_targets",
}

__all__ = [
    "MAX_PHOTO_PIXELS",
    "PHOTO_FITS",
    "PhotoFit",
    "fit_photo",
    "PhotoPixels",
    "PhotoSource",
    "orient_boxes",
    "read_photo",
    "read_photo_source",
    "BENIGN",
    "COCO_NAME",
    "CONVERSION_NAME",
    "DEFAULT_FRACTIONS",
    "LESION",
    "LESION_CLASSES",
    "PHOTO_CATEGORIES",
    "NEGATIVE_LABELS",
    "POSITIVE_LABELS",
    "LabelledMosaic",
    "LesionShares",
    "PhotoBox",
    "PhotoColumns",
    "PhotoDataset",
    "PhotoProblem",
    "PhotoRecord",
    "Sample",
    "Split",
    "SyntheticPhotos",
    "SyntheticSpec",
    "TileDataset",
    "TileLabelRule",
    "TileLabels",
    "WindowDataset",
    "WindowTarget",
    "check_split_covers",
    "count_problems",
    "format_problems",
    "from_coco",
    "label_tiles",
    "lesion_shares",
    "listing",
    "load_photo_columns",
    "make_spec",
    "open_lesion_mask",
    "photo_counts",
    "photo_summary",
    "read_csv_table",
    "read_labelled_mosaics",
    "read_photo_csv",
    "read_split",
    "read_voc",
    "split_by_patient",
    "to_coco",
    "voc_files",
    "window_target",
    "write_coco",
    "write_problems",
    "write_split",
    "write_synthetic",
    "write_synthetic_cohort",
    "write_synthetic_photos",
    "write_voc",
]


__getattr__ = lazy_attributes(__name__, _HOME)
