"""A small synthetic RCM cohort: mosaics with known lesions, masks, patients and a manifest.

Half of the patients have lesions (each of their mosaics has two to five), the
others none; every patient has `mosaics_per_patient` mosaics. The manifest is a
training manifest (`rcm.data.read_labelled_mosaics`) and an evaluation manifest
(``rcm evaluate --truth``) at once.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
from tqdm import tqdm

from rcm.data.synthetic import LESION_CLASSES, make_spec, write_synthetic
from rcm.io import atomic_output


def write_synthetic_cohort(
    folder: str | os.PathLike[str],
    *,
    patients: int = 12,
    mosaics_per_patient: int = 2,
    size: int = 1536,
    seed: int = 0,
    overwrite: bool = False,
    progress: bool = False,
) -> Path:
    """Write the mosaics (OME-Zarr), lesion masks and ``manifest.csv``; return the manifest."""
    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([seed, 7])
    rows = []
    cases = [(p, m) for p in range(patients) for m in range(mosaics_per_patient)]
    for patient, mosaic in tqdm(
        cases, desc="synthesising cohort", unit="mosaic", disable=not progress
    ):
        has_lesions = patient % 2 == 0
        mosaic_seed = seed * 10_000 + patient * 100 + mosaic
        spec = make_spec(
            size, size, seed=mosaic_seed, lesions=int(rng.integers(2, 6)) if has_lesions else 0
        )
        mosaic_id = f"P{patient:03d}-M{mosaic}"
        written = write_synthetic(spec, root / f"{mosaic_id}.zarr", overwrite=overwrite)
        categories = sorted({LESION_CLASSES[lesion.category] for lesion in spec.lesions})
        rows.append(
            {
                "mosaic_id": mosaic_id,
                "patient_id": f"P{patient:03d}",
                "label": "positive" if spec.lesions else "negative",
                "diagnosis": "+".join(categories) if categories else "benign",
                "mosaic": written["mosaic"].name,
                "mask": written["mask"].name,
                "coco": written["boxes"].name,
            }
        )
    manifest = root / "manifest.csv"
    with (
        atomic_output(manifest, overwrite=True) as partial,
        partial.open("w", newline="") as handle,
    ):
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return manifest
