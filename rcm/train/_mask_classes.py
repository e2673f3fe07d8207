"""Lesion categories from the lesion masks: pixel counts per value, names, the class list.

Lesion categories are the values of the lesion masks: a model's class ``i``
(counting lesion categories from 0) is mask value ``i + 1``, so a detector's
labels and `rcm infer`'s category ids equal the mask values. Names come from
``data.class_names``, else from the masks' own ``rcm.classes`` attribute (rcm's
synthetic masks carry one), else ``class_<value>``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import dask.array as da
import numpy as np
import zarr
import zarr.errors

from rcm._dask import local_compute
from rcm.data import LabelledMosaic
from rcm.errors import InputError
from rcm.io import open_mosaic

MASK_VALUES = 256  # lesion masks hold uint8 class values


def class_pixels(mosaics: Sequence[LabelledMosaic]) -> np.ndarray:
    """Pixels of each mask value (0..255) over the lesion masks of `mosaics`, chunk by chunk.

    Raises:
        InputError: If a mask holds values above 255.

    """
    total = np.zeros(MASK_VALUES, np.int64)
    for item in mosaics:
        if item.mask is None:
            continue
        level = open_mosaic(item.mask).levels[0]
        rows, cols = level.numblocks[:2]
        counts = da.map_blocks(
            _block_counts,
            level,
            dtype=np.int64,
            chunks=((1,) * rows, (MASK_VALUES + 1,) * cols),
        )
        with local_compute("mask classes", progress=False):
            found = np.asarray(counts.compute()).reshape(rows, cols, -1).sum(axis=(0, 1))
        if found[MASK_VALUES]:
            raise InputError(item.mask, "lesion mask values must lie in [0, 255]")
        total += found[:MASK_VALUES]
    return total


def _block_counts(block: np.ndarray) -> np.ndarray:
    """Counts of values 0..255 in a block, and of anything larger in the last slot."""
    values = np.minimum(block.ravel().astype(np.int64), MASK_VALUES)
    return np.bincount(values, minlength=MASK_VALUES + 1)[None]


def class_names(mosaics: Sequence[LabelledMosaic], configured: dict[Any, Any]) -> dict[int, str]:
    """Names of mask values: those stored with the masks, overridden by ``data.class_names``.

    OME-Zarr masks written by rcm keep their names under ``rcm.classes`` (the
    synthetic ones do); other values are named ``class_<value>`` by `lesion_categories`.

    Raises:
        InputError: If two masks name one value differently.

    """
    names: dict[int, str] = {}
    for item in mosaics:
        if item.mask is None or not item.mask.is_dir():
            continue
        try:
            attributes = zarr.open_group(str(item.mask), mode="r").attrs.asdict()
        except (OSError, ValueError, KeyError, zarr.errors.BaseZarrError):
            continue  # not a group with attributes: the mask reader reports real problems
        rcm_attributes = attributes.get("rcm")
        stored = rcm_attributes.get("classes") if isinstance(rcm_attributes, dict) else None
        for value, name in (stored if isinstance(stored, dict) else {}).items():
            known = names.setdefault(int(value), str(name))
            if known != str(name):
                raise InputError(
                    item.mask,
                    f"mask value {value} is named {name!r} here but {known!r} in another "
                    "mask; set data.class_names",
                )
    names.update({int(value): str(name) for value, name in configured.items()})
    return names


def lesion_categories(pixels: np.ndarray, names: dict[int, str]) -> tuple[str, ...]:
    """Names of mask values 1..the largest one present (absent values keep their place).

    Raises:
        ValueError: If no mask holds a lesion value, or two values share a name.

    """
    present = np.flatnonzero(pixels[1:]) + 1
    if not len(present):
        raise ValueError("the lesion masks hold no lesion values")
    categories = tuple(names.get(v, f"class_{v}") for v in range(1, int(present.max()) + 1))
    if len(set(categories)) != len(categories):
        raise ValueError(f"two mask values share a class name: {', '.join(categories)}")
    return categories
