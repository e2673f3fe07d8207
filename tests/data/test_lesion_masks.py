"""Lesion shares of large masks: the share of lesion pixels, for training and evaluation alike."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import dask.array as da
import numpy as np
import pytest

from rcm.data._labelled import LabelledMosaic
from rcm.data._tiles import AMBIGUOUS, BENIGN, LESION, TileLabelRule, label_tiles
from rcm.errors import InputError
from rcm.io import ZarrWriteOptions, write_ome_zarr
from rcm.outputs import SUMMARY, MosaicSummary, TileTable

# Longer than the 4096 px overview edge, so the mask is measured on a downsampled view.
HEIGHT, WIDTH, TILE = 80, 4200, 40
TEMPLATE = Path(__file__).parents[1] / "fixtures" / "release-0.1.0" / "classifier" / "summary.json"


def lesion_pattern() -> tuple[np.ndarray, dict[tuple[int, int, int, int], float]]:
    """A mask whose tiles hold known shares, with lesion pixels in every 2 x 2 block of some."""
    mask = np.zeros((HEIGHT, WIDTH), np.uint8)
    mask[0:40:2, 0:40:2] = 3  # one pixel of every 2 x 2 block: 400 of 1600 ...
    mask[1:9:2, 0:40:2] = 3  # ... and 80 more: 0.30
    mask[0:40:4, 40:80:4] = 1  # one pixel of every 4 x 4 block: 100 of 1600 = 0.0625
    mask[0:24, 80:120] = 2  # solid: 960 of 1600 = 0.6
    mask[40:80:2, 4160:4200:2] = 1  # the last tile: 0.25
    shares = {
        (0, 0, 40, 40): 0.30,
        (0, 40, 40, 80): 0.0625,
        (0, 80, 40, 120): 0.6,
        (40, 4160, 80, 4200): 0.25,
        (0, 120, 40, 160): 0.0,
    }
    return mask, shares


def write_mask(path: Path, mask: np.ndarray, *, levels: bool) -> Path:
    options = ZarrWriteOptions(labels=True, max_top_edge=2048 if levels else 8192)
    return write_ome_zarr(da.from_array(mask, chunks=1024), path, um_per_px=0.5, options=options)


def write_mosaic(path: Path) -> Path:
    image = np.full((HEIGHT, WIDTH), 200, np.uint8)
    image[::2, ::2] = 180  # texture; tissue everywhere
    return write_ome_zarr(da.from_array(image, chunks=1024), path, um_per_px=0.5)


@pytest.mark.parametrize("levels", [False, True], ids=["no-levels", "levels"])
def test_training_labels_take_the_share_of_lesion_pixels(tmp_path: Path, levels: bool) -> None:
    pattern, shares = lesion_pattern()
    mask = write_mask(tmp_path / "m.lesions.zarr", pattern, levels=levels)
    item = LabelledMosaic("m", "p", "positive", True, write_mosaic(tmp_path / "m.zarr"), mask)
    table = label_tiles([item], TileLabelRule(tile_px=TILE, positive_at=0.5, negative_below=0.1))
    found = {tuple(int(v) for v in w): (s, lab) for w, s, lab in zip(*_rows(table), strict=True)}
    expected_labels = {0.30: AMBIGUOUS, 0.0625: BENIGN, 0.6: LESION, 0.25: AMBIGUOUS, 0.0: BENIGN}
    for window, share in shares.items():
        assert found[window][0] == pytest.approx(share, abs=1e-9), window
        assert found[window][1] == expected_labels[share], window


def _rows(table: object) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return table.windows, table.lesion, table.labels  # type: ignore[attr-defined]


def test_shares_are_exact_for_tiles_not_aligned_with_the_overview(tmp_path: Path) -> None:
    pattern, _ = lesion_pattern()
    mask = write_mask(tmp_path / "m.lesions.zarr", pattern, levels=False)
    item = LabelledMosaic("m", "p", "positive", True, write_mosaic(tmp_path / "m.zarr"), mask)
    table = label_tiles([item], TileLabelRule(tile_px=27, min_tissue=0.25))
    for (y0, x0, y1, x1), share in zip(table.windows, table.lesion, strict=True):
        inside = pattern[y0 : min(y1, HEIGHT), x0 : min(x1, WIDTH)] > 0
        assert share == pytest.approx(inside.sum() / ((y1 - y0) * (x1 - x0)), abs=1e-12)


def test_a_soft_mask_gives_the_mean_share_and_nan_is_refused(tmp_path: Path) -> None:
    from rcm.data._lesion_masks import lesion_shares

    soft = np.zeros((HEIGHT, WIDTH), np.float32)
    soft[0:40, 0:40] = 0.5
    soft[0:40:2, 0:40:2] = 1.0  # 0.5 * 0.75 + 1.0 * 0.25 = 0.625
    path = write_ome_zarr(da.from_array(soft, chunks=1024), tmp_path / "soft.zarr", um_per_px=0.5)
    windows = np.array([[0, 0, 40, 40], [0, 40, 40, 80]])
    shares = lesion_shares(path, (HEIGHT, WIDTH), windows)
    np.testing.assert_allclose(shares.windows, [0.625, 0.0])
    assert shares.overview.shape == (40, 2100) and shares.scale == (2.0, 2.0)
    soft[5, 5] = np.nan
    bad = write_ome_zarr(da.from_array(soft, chunks=1024), tmp_path / "nan.zarr", um_per_px=0.5)
    with pytest.raises(InputError, match="NaN"):
        lesion_shares(bad, (HEIGHT, WIDTH), windows)


def test_a_mask_at_another_scale_is_measured_in_mosaic_pixels(tmp_path: Path) -> None:
    from rcm.data._lesion_masks import lesion_shares

    coarse = np.zeros((40, 60), np.uint8)
    coarse[0:10, 0:15] = 1  # a quarter of the top-left 20 x 30 mask px = 40 x 60 mosaic px
    path = write_mask(tmp_path / "coarse.zarr", coarse, levels=False)
    shares = lesion_shares(path, (80, 120), np.array([[0, 0, 40, 60], [40, 60, 80, 120]]))
    np.testing.assert_allclose(shares.windows, [0.25, 0.0])
    with pytest.raises(InputError, match="not the shape of its mosaic"):
        lesion_shares(path, (80, 80), np.zeros((0, 4), np.int64))


def write_case(folder: Path, mask: Path) -> object:
    """An output of a tile classifier over the whole pattern: tiles.csv, mask.zarr, summary."""
    from rcm.report._cohort import Case

    out = folder / "m.rcm"
    out.mkdir()
    template = MosaicSummary.read(TEMPLATE)
    replace(template, mosaic=replace(template.mosaic, shape=(HEIGHT, WIDTH))).write(out / SUMMARY)
    rows, cols = HEIGHT // TILE, WIDTH // TILE
    positions = np.array([(r, c) for r in range(rows) for c in range(cols)])
    windows = np.concatenate([positions * TILE, (positions + 1) * TILE], axis=1)
    suspicious = np.linspace(0.0, 1.0, len(windows))
    TileTable(
        windows=windows,
        positions=positions,
        tissue=np.ones(len(windows)),
        classes=("benign", "suspicious"),
        probabilities=np.stack([1 - suspicious, suspicious], axis=1),
        suspicious=suspicious,
    ).write(out / "tiles.csv")
    # The suspicious map at the mosaic's resolution: every pixel called lesion.
    write_ome_zarr(
        da.ones((HEIGHT, WIDTH), np.uint8, chunks=1024), out / "mask.zarr", um_per_px=None
    )
    return Case("m", "p", "malignant", True, 0.9, "suspicious", out, mask)


@pytest.mark.parametrize("levels", [False, True], ids=["no-levels", "levels"])
def test_evaluation_takes_the_same_shares(tmp_path: Path, levels: bool) -> None:
    from rcm.report._lesions import lesion_metrics

    pattern, _ = lesion_pattern()
    mask = write_mask(tmp_path / "m.lesions.zarr", pattern, levels=levels)
    case = write_case(tmp_path, mask)
    metrics = lesion_metrics([case], n_resamples=10)  # type: ignore[list-item]
    # Only the 0.6 tile has half its pixels or more lesion; the 0.30 one is not positive.
    assert metrics["tile_level"]["positive"] == 1
    # Mask overlap on the overview (2 x 2 blocks): a block is lesion when most of it is.
    pooled = metrics["segmentation"]["pooled"]
    # The solid block (960 px) and rows 0-7 of the first tile (80 blocks of 2 x 2 at 0.5).
    true = 960 + 320
    assert pooled["dice"] == pytest.approx(2 * true / (HEIGHT * WIDTH + true))


def test_windows_count_lesion_pixels_with_the_same_reader(tmp_path: Path) -> None:
    from rcm.data._window_dataset import WindowDataset

    pattern, shares = lesion_pattern()
    mask = write_mask(tmp_path / "m.lesions.zarr", pattern, levels=False)
    item = LabelledMosaic("m", "p", "positive", True, write_mosaic(tmp_path / "m.zarr"), mask)
    table = WindowDataset(mosaics=[item], window_px=TILE).windows
    rows = zip(table.windows, table.lesion_px, strict=True)
    counts = {tuple(int(v) for v in w): int(n) for w, n in rows}
    for window, share in shares.items():
        assert counts[window] == round(share * TILE * TILE), window
    soft = write_ome_zarr(
        da.from_array(pattern.astype(np.float32), chunks=1024), tmp_path / "s.zarr", um_per_px=0.5
    )
    item = LabelledMosaic("m", "p", "positive", True, item.mosaic, soft)
    with pytest.raises(InputError, match="single-channel image of integer labels"):
        WindowDataset(mosaics=[item], window_px=TILE)
