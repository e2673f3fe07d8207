"""Fixtures shared by the job tests."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from rcm.models import ModelMeta, build_network, save_model

MOSAICS = 12


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A dozen small synthetic mosaics, a manifest and a tiny classifier."""
    from rcm.data import make_spec, write_synthetic

    folder = tmp_path_factory.mktemp("cohort")
    rows = ["mosaic_id,path"]
    for index in range(MOSAICS):
        name = f"m{index:02d}"
        write_synthetic(make_spec(320, 300, seed=index, lesions=index % 2), folder / f"{name}.tif")
        rows.append(f"{name},{name}.tif")
    (folder / "mosaics.csv").write_text("\n".join(rows) + "\n")
    meta = ModelMeta(
        architecture="test_efficientnet",
        classes=("benign", "suspicious"),
        positive=("suspicious",),
        tile_px=64,
    )
    torch.manual_seed(0)
    save_model(folder / "model.safetensors", build_network(meta), meta)
    return folder
