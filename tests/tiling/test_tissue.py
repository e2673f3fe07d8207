from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rcm.data import make_spec, write_synthetic
from rcm.data._synth_spec import tissue_alpha
from rcm.io import open_mosaic
from rcm.tiling import TileGrid, TissueOptions, detect_tissue
from tests.io.writers import write_tiff

SPEC = make_spec(1600, 1400, seed=4, lesions=1)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tissue") / "m.tif"
    write_synthetic(SPEC, path)
    return path


def test_mask_matches_the_true_tissue(synthetic: Path) -> None:
    tissue = detect_tissue(open_mosaic(synthetic))
    height, width = tissue.mask.shape
    ys = ((np.arange(height) + 0.5) * tissue.scale[0]).astype(int)
    xs = ((np.arange(width) + 0.5) * tissue.scale[1]).astype(int)
    truth = tissue_alpha(SPEC, ys, xs) > 0.5
    iou = (tissue.mask & truth).sum() / (tissue.mask | truth).sum()
    assert iou > 0.9
    border = np.ones_like(truth)
    border[10:-10, 10:-10] = False
    assert not tissue.mask[border].any()  # dark margins


def test_tile_fractions_select_tissue_tiles(synthetic: Path) -> None:
    mosaic = open_mosaic(synthetic)
    tissue = detect_tissue(mosaic)
    grid = TileGrid(1600, 1400, 100, 100)
    fractions = tissue.window_fractions(grid.windows()).reshape(grid.shape)
    assert fractions[0].max() < 0.25 and fractions[:, 0].max() < 0.25
    assert fractions[6:10, 6:8].min() > 0.9
    image = mosaic.data.compute().astype(float)
    means = image.reshape(16, 100, 14, 100).mean(axis=(1, 3))
    assert means[fractions > 0.9].mean() > 3 * means[fractions == 0].mean()


def test_dark_mosaic_has_no_tissue(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    dark = rng.integers(0, 12, (600, 500), dtype=np.uint8)
    tissue = detect_tissue(open_mosaic(write_tiff(tmp_path / "dark.tif", dark)))
    assert tissue.fraction == 0


def test_all_tissue_is_not_split(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    bright = (120 + rng.normal(0, 40, (600, 500))).clip(0, 255).astype(np.uint8)
    tissue = detect_tissue(open_mosaic(write_tiff(tmp_path / "bright.tif", bright)))
    assert tissue.fraction > 0.99


def test_fixed_threshold_and_options() -> None:
    with pytest.raises(ValueError):
        TissueOptions(min_fraction=0)
    with pytest.raises(ValueError):
        TissueOptions(threshold=2.0)
