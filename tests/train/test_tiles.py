"""Tile labels from lesion masks: a hand-computed example, the rule's edges, bad masks."""

from __future__ import annotations

from pathlib import Path

import dask.array as da
import numpy as np
import pytest
import torch

from rcm.data._labelled import LabelledMosaic, read_labelled_mosaics
from rcm.data._tiles import AMBIGUOUS, BENIGN, LESION, TileDataset, TileLabelRule, label_tiles
from rcm.errors import InputError
from rcm.io import ZarrWriteOptions, write_ome_zarr


def write_pair(folder: Path, lesion: np.ndarray, name: str = "m") -> tuple[Path, Path]:
    """A uniformly bright 64 x 64 mosaic (all tissue) and its lesion mask."""
    image = np.full(lesion.shape, 200, np.uint8)
    image[::2, ::2] = 180  # some texture; still tissue everywhere
    mosaic = write_ome_zarr(da.from_array(image), folder / f"{name}.zarr", um_per_px=0.5)
    mask = write_ome_zarr(
        da.from_array(lesion.astype(np.uint8)),
        folder / f"{name}.lesions.zarr",
        um_per_px=0.5,
        options=ZarrWriteOptions(labels=True),
    )
    return mosaic, mask


def test_tile_labels_match_a_hand_computed_example(tmp_path: Path) -> None:
    lesion = np.zeros((64, 64), np.uint8)
    lesion[0:24, 0:8] = 2  # tile (0, 0): 16*8 = 128 of 256 px -> 0.5; tile (1, 0): 64/256
    lesion[40:64, 40:64] = 1  # tile (2, 2): 8*8/256 ... see below
    mosaic, mask = write_pair(tmp_path, lesion)
    item = LabelledMosaic("m", "p", "positive", True, mosaic, mask)
    table = label_tiles([item], TileLabelRule(tile_px=16, positive_at=0.5, negative_below=0.1))

    assert len(table) == 16  # 4 x 4 tiles, all tissue
    by_window = {
        tuple(w): (f, lab)
        for w, f, lab in zip(table.windows, table.lesion, table.labels, strict=True)
    }
    # Lesion shares worked out by hand for a few tiles [y0, x0, y1, x1].
    expected = {
        (0, 0, 16, 16): (128 / 256, LESION),
        (16, 0, 32, 16): (64 / 256, AMBIGUOUS),
        (0, 16, 16, 32): (0.0, BENIGN),
        (32, 32, 48, 48): (8 * 8 / 256, AMBIGUOUS),  # rows 40-48, cols 40-48
        (32, 48, 48, 64): (8 * 16 / 256, LESION),  # rows 40-48, cols 48-64 -> 0.5
        (48, 48, 64, 64): (1.0, LESION),
        (48, 32, 64, 48): (16 * 8 / 256, LESION),
    }
    for window, (share, label) in expected.items():
        assert by_window[window][0] == pytest.approx(share)
        assert by_window[window][1] == label
    assert table.counts() == {"lesion": 4, "ambiguous": 2, "benign": 10}
    table.write_csv(tmp_path / "tiles.csv")
    rows = (tmp_path / "tiles.csv").read_text().splitlines()
    assert rows[0] == "mosaic_id,y0,x0,y1,x1,tissue,lesion,label" and len(rows) == 17
    assert "m,0,0,16,16,1.0000,0.5000,lesion" in rows


def test_benign_mosaic_needs_no_mask_and_positive_without_mask_is_reported(tmp_path: Path) -> None:
    mosaic, _ = write_pair(tmp_path, np.zeros((64, 64), np.uint8))
    benign = LabelledMosaic("b", "p1", "negative", False, mosaic, None)
    unlabelled = LabelledMosaic("u", "p2", "positive", True, mosaic, None)
    table = label_tiles([benign, unlabelled], TileLabelRule(tile_px=32))
    assert table.counts() == {"lesion": 0, "benign": 4, "ambiguous": 0}
    assert table.skipped == (("u", "positive mosaic without a lesion mask"),)


def test_tiles_follow_the_models_pixel_size(tmp_path: Path) -> None:
    mosaic, mask = write_pair(tmp_path, np.zeros((64, 64), np.uint8))
    item = LabelledMosaic("m", "p", "negative", False, mosaic, mask)
    # The model works at 1 um/px with 16 px tiles: 32 mosaic pixels at 0.5 um/px.
    rule = TileLabelRule(tile_px=16, um_per_px=1.0)
    table = label_tiles([item], rule)
    assert {int(w[2] - w[0]) for w in table.windows} == {32}
    tile, label = TileDataset(table, rule)[0]
    assert tile.shape == (1, 16, 16) and tile.dtype == torch.float32 and label == BENIGN
    assert 0.6 < float(tile.mean()) < 0.8  # 180-200 of 255, averaged down


def test_a_mask_of_another_size_is_refused(tmp_path: Path) -> None:
    mosaic, _ = write_pair(tmp_path, np.zeros((64, 64), np.uint8))
    _, mask = write_pair(tmp_path, np.zeros((64, 48), np.uint8), name="other")
    item = LabelledMosaic("m", "p", "positive", True, mosaic, mask)
    with pytest.raises(InputError, match="lesion mask is 48 x 64 pixels but its mosaic is 64 x 64"):
        label_tiles([item], TileLabelRule(tile_px=16))


def test_training_manifest_problems_are_named(tmp_path: Path) -> None:
    write_pair(tmp_path, np.zeros((64, 64), np.uint8))
    manifest = tmp_path / "manifest.csv"
    manifest.write_text(
        "mosaic_id,patient_id,label,mosaic,mask\n"
        "a,p1,positive,m.zarr,\n"
        "a,p1,negative,m.zarr,\n"
        "b,p2,maybe,m.zarr,\n"
        "c,p3,negative,missing.zarr,\n"
    )
    with pytest.raises(InputError) as error:
        read_labelled_mosaics(manifest)
    message = str(error.value)
    assert "line 3: mosaic a is listed twice" in message
    assert "line 4: label 'maybe'" in message
    assert "line 5: mosaic" in message and "missing.zarr not found" in message
